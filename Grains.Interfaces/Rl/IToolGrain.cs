namespace Grains.Interfaces.Rl;

/// <summary>
/// A tool a model calls during generation: a stateless worker, one class per tool (see Grains.Tools.ToolGrains),
/// keyed by the job. It answers an argument with a result text; the caller bounds its time and the result's size.
/// </summary>
public interface IToolGrain : IGrainWithStringKey
{
    Task<string> Call(string argument);
}
