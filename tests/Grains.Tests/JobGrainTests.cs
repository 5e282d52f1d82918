using Grains.Interfaces.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class JobGrainTests(ClusterFixture fixture)
{
    private static JobSpec Spec(string name, int iterations = 3) => new() { Name = name, Iterations = iterations, StepsPerIteration = 10, Seed = 4 };

    private async Task<JobStatus> WaitUntilFinished(IJobGrain job)
    {
        var status = await job.Status();
        for (var i = 0; i < 300 && !status.IsFinished; i++)
        {
            await Task.Delay(100);
            status = await job.Status();
        }
        return status;
    }

    [Fact]
    public async Task A_submitted_job_runs_every_iteration_and_completes()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("complete");

        var started = await job.Submit(Spec("complete"));
        var finished = await WaitUntilFinished(job);

        started.State.Should().Be(JobState.Running);
        finished.State.Should().Be(JobState.Completed);
        finished.IterationsDone.Should().Be(3);
        finished.LastLoss.Should().BePositive();
        finished.Finished.Should().BeOnOrAfter(finished.Started!.Value);
        (await job.Submit(Spec("complete"))).State.Should().Be(JobState.Completed, "submitting the same spec again changes nothing");
    }

    [Fact]
    public async Task A_cancelled_job_stops_after_its_current_iteration()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("cancelled");
        await job.Submit(Spec("cancelled", iterations: 10_000));

        await job.Cancel();
        var finished = await WaitUntilFinished(job);

        finished.State.Should().Be(JobState.Cancelled);
        finished.IterationsDone.Should().BeLessThan(10_000);
        finished.Message.Should().StartWith($"cancelled after {finished.IterationsDone} of 10000");
    }

    [Fact]
    public async Task A_running_job_keeps_a_reminder_that_brings_it_back_after_its_silos_loss_and_drops_it_when_it_ends()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("reminded");
        var reminders = (fixture.Cluster.Primary as InProcessSiloHandle ?? throw new InvalidOperationException("the test silo runs in this process")).SiloHost.Services.GetRequiredService<IReminderTable>();
        var id = job.GetGrainId();

        await job.Submit(Spec("reminded", iterations: 10_000));
        for (var i = 0; i < 100 && (await reminders.ReadRows(id)).Reminders.Count == 0; i++) await Task.Delay(50);
        var held = (await reminders.ReadRows(id)).Reminders;
        await job.Cancel();
        await WaitUntilFinished(job);
        for (var i = 0; i < 100 && (await reminders.ReadRows(id)).Reminders.Count > 0; i++) await Task.Delay(50);

        held.Should().ContainSingle().Which.ReminderName.Should().Be("running");
        (await reminders.ReadRows(id)).Reminders.Should().BeEmpty("a finished job needs no bringing back");
    }

    [Fact]
    public async Task Conflicting_or_misnamed_specs_are_refused()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("conflict");
        await job.Submit(Spec("conflict", iterations: 1));

        var different = () => job.Submit(Spec("conflict", iterations: 2));
        var misnamed = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("other").Submit(Spec("conflict"));

        await different.Should().ThrowAsync<InvalidOperationException>().WithMessage("*already exists with a different spec*");
        await misnamed.Should().ThrowAsync<ArgumentException>().WithMessage("*'other' was sent a spec named 'conflict'*");
    }

    [Theory]
    [InlineData("""{"kind":"smoke"}""", "job.json: name: required")]
    [InlineData("""{"name":"a b"}""", "job.json: name: 'a b' must be*")]
    [InlineData("""{"name":"a","kind":"ppo"}""", "job.json:1: kind: 'ppo' is not one of smoke, rl, dpo")]
    [InlineData("""{"name":"a","kind":"rl"}""", "job.json: rl: required for kind 'rl'")]
    [InlineData("""{"name":"a","rl":{}}""", "job.json: rl: only for kinds 'rl' and 'dpo', not 'smoke'")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"tools":[]}}}""", "job.json: rl.tools.tools: name at least one tool, or remove the tools section")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"tools":["web"]}}}""", "job.json:1: rl.tools.tools[0]: 'web' is not one of calc, search")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"tools":["search"]}}}""", "job.json: rl.tools.documents: the search tool searches a documents file; name one")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"tools":["calc"],"documents":"d.jsonl"}}}""", "job.json: rl.tools.documents: only the search tool reads documents; add search to rl.tools.tools or remove it")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"tools":["calc","calc"]}}}""", "job.json: rl.tools.tools: a tool is named twice")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"maxTurns":0}}}""", "job.json: rl.tools.maxTurns: 0 must be between 1 and 64")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"failedCallReward":-11}}}""", "job.json: rl.tools.failedCallReward: -11 must be between -10 and 10")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"tools":{"timeoutSeconds":0}}}""", "job.json: rl.tools.timeoutSeconds: 0 must be between*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{},"tools":{}}}""", "job.json: rl.tools: emulated devices make no tokens to call tools with; emulate their calls with rl.emulation.tools")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"tools":{"latencySigma":5}}}}""", "job.json: rl.emulation.tools.latencySigma: 5 must be between 0 and 4")]
    [InlineData("""{"name":"a","kind":"dpo"}""", "job.json: dpo: required for kind 'dpo'")]
    [InlineData("""{"name":"a","kind":"rl","rl":{},"dpo":{"pairs":"p.jsonl"}}""", "job.json: dpo: only for kind 'dpo', not 'rl'")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{}}""", "job.json: dpo.pairs: required*")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{"pairs":"p.jsonl","loss":"hinge"}}""", "job.json:1: dpo.loss: 'hinge' is not one of sigmoid, ipo")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{"pairs":"p.jsonl","beta":0}}""", "job.json: dpo.beta: 0 must be between*")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{"pairs":"p.jsonl","pairsPerIteration":4},"rl":{"trainingReplicas":2,"miniBatches":4}}""", "job.json: rl.trainingReplicas: 2 replicas x 4 mini-batches exceed the 4 pairs of an iteration")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{"pairs":"p.jsonl","pairsPerIteration":8},"rl":{"pipeline":{"microBatches":8},"miniBatches":2}}""", "job.json: rl.pipeline.microBatches: 1 replica(s) x 8 micro-batches exceed the 4 pairs of the smallest optimizer step (dpo.pairsPerIteration 8 over rl.miniBatches 2)")]
    [InlineData("""{"name":"a","kind":"dpo","dpo":{"pairs":"p.jsonl"},"rl":{"algorithm":"ppo","samplesPerPrompt":1}}""", "job.json: rl.algorithm: a dpo job trains on preference pairs and does not take it; remove it")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"algorithm":"dpo"}}""", "job.json:1: rl.algorithm: 'dpo' is not one of grpo, ppo, rloo, reinforce++")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"task":"chess"}}""", "job.json:1: rl.task: 'chess' is not one of arithmetic, runlength, lookup")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"samplesPerPrompt":1}}""", "job.json: rl.samplesPerPrompt: grpo needs groups of at least 2")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"stagePolicy":"eager"}}""", "job.json:1: rl.stagePolicy: 'eager' is not one of barrier, streaming")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"reward":"model"}}""", "job.json: rl.rewardModel: required when reward is 'model'")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"actorLearningRate":0}}""", "job.json: rl.actorLearningRate: 0 must be between*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"temperature":-1}}""", "job.json: rl.temperature: -1 must be between*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"promptsPerIteration":2,"samplesPerPrompt":2,"trainingReplicas":3,"miniBatches":2}}""", "job.json: rl.trainingReplicas: 3 replicas x 2 mini-batches exceed the 4 samples*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"gpu"}}""", "job.json:1: rl.devices: 'gpu' is not one of*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated"}}""", "job.json: rl.emulation: required when devices is 'emulated'")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"emulation":{}}}""", "job.json: rl.emulation: only for devices 'emulated'")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"generationTensorParallel":3}}}""", "job.json: rl.emulation.generationTensorParallel: 3 must be a power of two*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"timeScale":0}}}""", "job.json: rl.emulation.timeScale: 0 must be between*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"datasetPrompts":-1}}}""", "job.json: rl.emulation.datasetPrompts: -1 must be between 0 and*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"gpus":8}}}""", "job.json:1: 'gpus' is not a field of rl.emulation")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"learningRate":1}}""", "job.json:1: 'learningRate' is not a field of rl")]
    [InlineData("""{"name":"a","iterations":0}""", "job.json: iterations: 0 must be*")]
    [InlineData("""{"name":"a","stepsPerIteration":-1}""", "job.json: stepsPerIteration: -1 must be*")]
    [InlineData("""{"name":"a","colour":"red"}""", "job.json:1: 'colour' is not a field of a job file")]
    [InlineData("""{"name":".."}""", "job.json: name: '..' must hold a letter or digit")]
    [InlineData("""{"name":"a\u001b[31mred"}""", "job.json: name: 'a?[31mred' must be 1-64 letters*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"algorithm":"\u001b[2J"}}""", "job.json:1: rl.algorithm: '?[2J' is not one of*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"trainingReplicas":1024,"miniBatches":4194304,"promptsPerIteration":100000,"samplesPerPrompt":1024}}""", "job.json: rl.trainingReplicas: 1024 replicas x 4194304 mini-batches exceed the 102400000 samples*")]
    [InlineData("""{"name":"a","kind":"rl","rl":{"devices":"emulated","emulation":{"deviceClass":null}}}""", "job.json: rl.emulation.deviceClass: required")]
    [InlineData("""{"name":"a","iterations":"many"}""", "job.json:1: iterations: must be a whole number from -2147483648 to 2147483647")]
    public void Bad_job_files_name_the_field(string json, string expected)
    {
        var act = () => JobSpec.FromJson(json, "job.json");

        act.Should().Throw<ArgumentException>().WithMessage(expected);
    }

    [Fact]
    public void A_huge_name_is_repeated_in_its_error_cut_to_what_a_person_reads()
    {
        var name = new string('x', 5_000_000);

        var error = FluentActions.Invoking(() => JobSpec.FromJson($$"""{"name":"{{name}}"}""", "job.json")).Should().Throw<ArgumentException>().Which.Message;

        error.Should().Be($"job.json: name: '{new string('x', 64)}...' (5,000,000 characters) must be 1-64 letters, digits, '-', '_' or '.'");
    }

    [Fact]
    public void A_job_file_round_trips()
    {
        var spec = Spec("round-trip");

        JobSpec.FromJson(spec.ToJson()).Should().Be(spec);
        var rl = RlJobTests.Tiny("rl-round-trip");
        JobSpec.FromJson(rl.ToJson()).Should().Be(rl);
    }

    [Fact]
    public void The_shipped_job_files_are_valid()
    {
        var jobs = Directory.GetFiles(Path.Combine(Testing.RepositoryPaths.Root, "infra", "jobs"), "*.json");

        jobs.Should().HaveCountGreaterThanOrEqualTo(4);
        foreach (var file in jobs) JobSpec.FromJson(File.ReadAllText(file), file).Name.Should().Be(Path.GetFileNameWithoutExtension(file));
    }

    [Theory]
    [InlineData("ppo-65b-256xh800-chat", 256, 4096)]
    [InlineData("grpo-7b-256xh800-chat", 256, 4096)]
    [InlineData("grpo-7b-32xh800-reasoning", 32, 512)]
    [InlineData("grpo-7b-512xh800-chat", 512, 8192)]
    [InlineData("grpo-7b-1024xh800-chat", 1024, 16384)]
    [InlineData("grpo-7b-128xh800-reasoning32k", 128, 1024)]
    [InlineData("grpo-7b-128xh20-reasoning32k", 128, 1024)]
    [InlineData("grpo-32b-256xh800-reasoning", 256, 1024)]
    public void The_shipped_bench_workloads_are_valid_and_occupy_their_devices_colocated_too(string name, int devices, int samples)
    {
        var file = Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", name + ".json");
        var spec = JobSpec.FromJson(File.ReadAllText(file), file);

        spec.Name.Should().Be(name);
        var emulated = new Grains.Engines.EmulatedJob(spec);
        emulated.Devices.Should().Be(devices);
        emulated.Workload(1).Samples.Should().HaveCount(samples);
        var colocated = Grains.Engines.EmulatedJob.ColocatedAtSameDevices(spec);
        colocated.Validated().Rl!.Placement.Should().Be(RolePlacement.Colocated);
        new Grains.Engines.EmulatedJob(colocated).Devices.Should().Be(devices, "the baseline runs on as many devices");
        new Grains.Engines.EmulatedJob(colocated).Workload(1).Samples.Should().Equal(emulated.Workload(1).Samples, "the same samples, placed differently");
    }

    [Theory]
    [InlineData("""{"trainingReplicas":2,"generationWorkers":1}""", "rl.trainingReplicas: 2, but colocated devices each hold a worker and a replica: set it to generationWorkers (1)")]
    [InlineData("""{"pipeline":{"stages":2}}""", "rl.pipeline.stages: 2 stages do not divide the 1 colocated devices (each holds one stage of each model)")]
    [InlineData("""{"devices":"emulated","emulation":{"inferenceDevices":3}}""", "rl.emulation.inferenceDevices: 3, but colocated devices each hold a scorer: set it to generationWorkers (1)")]
    [InlineData("""{"devices":"emulated","emulation":{"trainingTensorParallel":2}}""", "rl.emulation.trainingTensorParallel: colocated roles share their devices, so every tensor-parallel degree is generationTensorParallel (1)")]
    public void A_colocated_job_whose_roles_do_not_share_devices_is_refused_naming_the_field(string rl, string error)
    {
        var json = """{"name":"c","kind":"rl","rl":{"placement":"colocated",""" + rl[1..] + "}";

        FluentActions.Invoking(() => JobSpec.FromJson(json, "job.json")).Should().Throw<ArgumentException>().WithMessage($"job.json: {error}");
    }
}
