using FluentAssertions;
using Grains.Interfaces.Jobs;
using Kernels.Rl;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>The job spec's typed settings: each name a job file may use, and what each maps to.</summary>
public sealed class JobSpecTypesTests
{
    [Fact]
    public void Every_algorithm_a_job_can_name_has_a_registered_advantage_estimator()
    {
        foreach (var algorithm in Enum.GetValues<Algorithm>())
        {
            Enum.TryParse<RlAlgorithm>(algorithm.ToString(), out var kernel).Should().BeTrue($"{algorithm} has a kernel algorithm of the same name");
            AdvantageEstimator.Estimators.Should().ContainKey(kernel);
        }
        SpecNames.All<Algorithm>().Should().Equal("grpo", "ppo", "rloo", "reinforce++");
    }

    [Theory]
    [InlineData("""{"name":"a","kind":"rl","rl":{"algorithm":"reinforce++","dispatch":"pull","pipeline":{"schedule":"1f1b"}}}""")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"algorithm":"REINFORCE++","dispatch":"Pull","pipeline":{"schedule":"1F1B"}}}""")]
    public void Names_are_read_in_any_case_and_written_as_job_files_spell_them(string json)
    {
        var spec = JobSpec.FromJson(json);
        (spec.Rl!.Algorithm, spec.Rl.Dispatch, spec.Rl.Pipeline!.Schedule).Should().Be((Algorithm.ReinforcePlusPlus, DispatchPolicy.Pull, PipelineScheduleKind.OneForwardOneBackward));
        spec.ToJson().Should().Contain("\"algorithm\": \"reinforce++\"").And.Contain("\"dispatch\": \"pull\"").And.Contain("\"schedule\": \"1f1b\"");
        JobSpec.FromJson(spec.ToJson()).Should().Be(spec);
    }

    [Theory]
    [InlineData("""{"name":"a","kind":"rl","rl":{"algorithm":"dpo2"}}""", "job:1: rl.algorithm: 'dpo2' is not one of grpo, ppo, rloo, reinforce++")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"dispatch":"random"}}""", "job:1: rl.dispatch: 'random' is not one of round-robin, pull, skew-aware")]
    [InlineData("""{"name":"a","kind":"batch"}""", "job:1: kind: 'batch' is not one of smoke, rl, dpo")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"klEstimator":3}}""", "job:1: rl.klEstimator: expected one of k1, abs, k2, k3")]
    public void An_unknown_name_is_refused_naming_the_field_and_the_known_names(string json, string error)
    {
        FluentActions.Invoking(() => JobSpec.FromJson(json)).Should().Throw<ArgumentException>().WithMessage(error);
    }
}
