using Grains.Interfaces.Rl;
using Kernels.Tools;
using Orleans.Concurrency;

namespace Grains.Tools;

/// <summary>The calculator tool ("[calc 12*34]"): evaluates arithmetic; an expression it cannot is answered with the error.</summary>
[StatelessWorker]
public sealed class CalculatorToolGrain : Grain, IToolGrain
{
    public Task<string> Call(string argument) => Task.FromResult(Calculator.Evaluate(argument));
}
