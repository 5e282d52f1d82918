using System.Text.Json;
using System.Text.Json.Serialization;

namespace Grains.Interfaces.Jobs;

/// <summary>
/// What a researcher submits: a job file in JSON. Kind "rl" post-trains a policy with reinforcement
/// learning (settings in <see cref="Rl"/>); kind "dpo" trains it on preference pairs (<see cref="Dpo"/>, with the
/// rl section's model, warm start, devices and checkpoints); kind "smoke" trains the smoke model on a training device
/// each iteration, to prove the stack.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobSpec
{
    /// <summary>The job's name: 1-64 letters, digits, '-', '_' or '.'; its grains, objects and metrics are named after it.</summary>
    [Id(0)] public string Name { get; init; } = "";
    /// <summary>"rl" post-trains a policy (the <c>rl</c> section); "dpo" trains it on preference pairs (the <c>dpo</c> section); "smoke" trains the smoke model, to prove the stack.</summary>
    [Id(1)] public JobKind Kind { get; init; } = JobKind.Smoke;
    /// <summary>Steps to train (1-1,000,000); a resumed job may be given more.</summary>
    [Id(2)] public int Iterations { get; init; } = 10;
    /// <summary>Smoke jobs: optimizer steps per iteration.</summary>
    [Id(3)] public int StepsPerIteration { get; init; } = 100;
    /// <summary>Every random draw (data order, sampling, initialization) derives from it: the same file trains the same way.</summary>
    [Id(4)] public long Seed { get; init; } = 1;
    /// <summary>The rl section: required for kind "rl".</summary>
    [Id(5)] public RlSpec? Rl { get; init; }
    /// <summary>The dpo section: required for kind "dpo", whose rl section (optional: its defaults) gives the model, warm start, devices and checkpoints.</summary>
    [Id(6)] public DpoSpec? Dpo { get; init; }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        Converters = { new SpecNameConverter() },
        // "reinforce++", not "reinforce\u002B\u002B": job files are read by people.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses and validates a job file; the error names the file and the field.</summary>
    public static JobSpec FromJson(string json, string source = "job")
    {
        JobSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<JobSpec>(json, Json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException(JobFileErrors.Describe(e, source), e);
        }
        return (spec ?? throw new ArgumentException($"{source}: the file is empty")).Validated(source);
    }

    public JobSpec Validated(string source = "job")
    {
        // A DPO job's rl section may be left out: its defaults train the demo model.
        if (Kind == JobKind.Dpo && Rl is null) return (this with { Rl = new RlSpec() }).Validated(source);
        string? problem =
            string.IsNullOrWhiteSpace(Name) ? "name: required" :
            !Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || Name.Length > 64 ? $"name: {Quoted.Of(Name)} must be 1-64 letters, digits, '-', '_' or '.'" :
            Name.All(c => c == '.') ? $"name: {Quoted.Of(Name)} must hold a letter or digit" :
            !Enum.IsDefined(Kind) ? $"kind: {Kind} is not one of {string.Join(", ", SpecNames.All<JobKind>())}" :
            Iterations is < 1 or > 1_000_000 ? $"iterations: {Iterations} must be between 1 and 1000000" :
            StepsPerIteration is < 1 or > 100_000 ? $"stepsPerIteration: {StepsPerIteration} must be between 1 and 100000" :
            Kind == JobKind.Rl && Rl is null ? "rl: required for kind 'rl'" :
            Kind == JobKind.Smoke && Rl is not null ? "rl: only for kinds 'rl' and 'dpo', not 'smoke'" :
            Kind == JobKind.Dpo && Dpo is null ? "dpo: required for kind 'dpo'" :
            Kind != JobKind.Dpo && Dpo is not null ? $"dpo: only for kind 'dpo', not '{SpecNames.Of(Kind)}'" :
            Rl?.Problem() ?? (Kind == JobKind.Dpo ? Dpo!.Problem(Rl!) : null);
        return problem is null ? this : throw new ArgumentException($"{source}: {problem}");
    }
}
