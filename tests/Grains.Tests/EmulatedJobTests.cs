using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Grains.Rl;
using Kernels.Emulation;
using Orleans.Core.Internal;

namespace Grains.Tests;

/// <summary>Whole rl jobs on emulated devices: the real grains and policies, device time from the cost model.</summary>
[Collection(ClusterCollection.Name)]
public sealed class EmulatedJobTests(ClusterFixture fixture)
{
    private static JobSpec Emulated(string name, string policy, string algorithm = "ppo") => new()
    {
        Name = name,
        Kind = JobKind.Rl,
        Iterations = 2,
        Seed = 5,
        Rl = new RlSpec
        {
            Algorithm = SpecNames.Parse<Algorithm>(algorithm), Devices = DeviceKind.Emulated, StagePolicy = SpecNames.Parse<StagePolicy>(policy), PromptsPerIteration = algorithm == "ppo" ? 24 : 6,
            SamplesPerPrompt = algorithm == "ppo" ? 1 : 4, MiniBatches = 2, Epochs = 2, GenerationWorkers = 3, TrainingReplicas = 2, MaxBatch = 8,
            Emulation = new EmulationSpec
            {
                DeviceClass = "H100", Actor = "qwen2.5-7b", Critic = algorithm == "ppo" ? "llama-13b" : null, InferenceDevices = 2,
                Lengths = "chat", PromptLength = 128, TimeScale = 200,
            },
        },
    };

    [Fact]
    public async Task A_trained_samples_grain_collected_since_answers_its_record_and_a_repeat_from_its_job()
    {
        // A trained sample's grain goes soon after its training (SampleGrain.TrainedKept); its job keeps the
        // latest trained records, so a new activation knows it was trained and with what.
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-collected", "streaming", "grpo");

        var (status, _) = await RlJobTests.Run(grains, spec);
        status.State.Should().Be(JobState.Completed, status.Message);
        var samples = Enumerable.Range(1, 2).SelectMany(i => Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, i, k)))).ToList();
        var before = await Task.WhenAll(samples.Select(s => s.Record()));

        await Task.WhenAll(samples.Select(s => s.Cast<IGrainManagementExtension>().DeactivateOnIdle().AsTask()));
        var after = await Task.WhenAll(samples.Select(s => s.Record()));
        var repeated = await Task.WhenAll(samples.Select(s => s.Trained([], null)));

        before.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
        after.Should().BeEquivalentTo(before, o => o.WithStrictOrdering());
        repeated.Should().BeEquivalentTo(before, o => o.WithStrictOrdering().Excluding(r => r.RefusedTrainings), "a repeated Trained trains nothing");
        repeated.Should().OnlyContain(r => r.RefusedTrainings == 1, "and is counted as refused");
        (await grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, 3, 0)).Record()).Stage.Should().Be(SampleStage.New, "a step the job never ran has no record");
    }

    [Fact]
    public async Task A_long_jobs_older_metrics_come_whole_from_the_store_once_the_grain_lets_their_timelines_go()
    {
        // The job grain holds the latest 64 iterations whole; earlier ones are read back from their objects.
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-long", "streaming", "grpo") with { Iterations = 70 };
        spec = spec with { Rl = spec.Rl! with { PromptsPerIteration = 2, SamplesPerPrompt = 2, Epochs = 1, MiniBatches = 1, Emulation = spec.Rl.Emulation! with { TimeScale = 2000 } } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);
        var recent = await grains.GetGrain<IJobGrain>(spec.Name).Metrics(60);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(Enumerable.Range(1, 70));
        metrics.Should().OnlyContain(m => m.Timeline.Length == 7, "every iteration's 3 generation, 2 training and 2 inference devices, the first ones' from the store");
        recent.Select(m => m.Iteration).Should().Equal(Enumerable.Range(60, 11));
        recent.Select(m => m.Timeline.Sum(t => t.Bars.Length)).Should().Equal(metrics.Skip(59).Select(m => m.Timeline.Sum(t => t.Bars.Length)));
    }

    [Fact]
    public async Task With_a_dataset_size_emulated_prompts_come_back_each_epoch_and_the_ranker_forecasts_them_from_history()
    {
        // Six prompts a step from a dataset of six: every step is an epoch, so from step 2 each prompt has
        // history, and its responses follow the same latent as before.
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-ranked", "streaming", "grpo") with { Iterations = 4 };
        spec = spec with { Rl = spec.Rl! with { SamplesPerPrompt = 8, Emulation = spec.Rl.Emulation! with { DatasetPrompts = 6, LengthCorrelation = 0.9, Lengths = "reasoning" } } };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var seeds = Enumerable.Range(1, 4).Select(i => Enumerable.Range(0, 6).Select(p => emulated.PromptSeed(i, p, (i - 1) * 6L + p)).Order().ToArray()).ToArray();
        seeds.Should().AllSatisfy(epoch => epoch.Should().Equal(seeds[0]), "each epoch draws the dataset's six prompts");
        seeds[0].Distinct().Should().HaveCount(6);
        metrics.Select(m => m.Ranking!.KnownShare).Should().Equal(0, 1, 1, 1);
        metrics[0].Ranking!.PromptRankCorrelation.Should().Be(0, "with no history every prompt is forecast alike");
        // With siblings correlated at 0.9, eight responses' ranks say where the next eight will be.
        metrics.Skip(1).Should().OnlyContain(m => m.Ranking!.PromptRankCorrelation > 0.5);
        metrics.Select(m => m.Ranking!.HalfwayPromptRecall).Should().AllSatisfy(h => h.Should().BeInRange(0, 1), "each step reports its forecast with the siblings ended by halfway");
    }

    [Fact]
    public async Task A_skew_aware_job_dispatches_by_forecast_with_the_split_its_last_trained_step_chose()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-skew", "streaming", "grpo") with { Iterations = 3 };
        spec = spec with { Rl = spec.Rl! with { Dispatch = DispatchPolicy.SkewAware, SamplesPerPrompt = 8, Emulation = spec.Rl.Emulation! with { DatasetPrompts = 6, Lengths = "reasoning" } } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Split.Should().Be(SkewSplit.None, "the first step is launched before any is trained");
        metrics.Should().OnlyContain(m => m.Split != null && m.Ranking != null && m.Ledger!.Lost == 0 && m.Ledger.Trained == 48);
        foreach (var m in metrics)
        {
            var records = await Task.WhenAll(Enumerable.Range(0, 48).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained && r.Dispatches == 1);
        }
    }

    [Fact]
    public async Task An_async_job_with_partial_rollouts_on_emulated_devices_trains_every_sample_within_its_staleness()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-async", "streaming", "grpo") with { Iterations = 5 };
        spec = spec with { Rl = spec.Rl! with { Async = new AsyncSpec { MaxStaleness = 2, PartialRollouts = true }, Emulation = spec.Rl.Emulation! with { Lengths = "reasoning" } } };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(1, 2, 3, 4, 5);
        foreach (var m in metrics)
        {
            var records = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
            records.Select(r => r.Generated!.Tokens).Should().Equal(emulated.Workload(m.Iteration).Samples.Select(s => s.Response),
                "each sample reaches the length its seed draws with its step's version, however often it was interrupted");
            records.Should().OnlyContain(r => r.Generated!.Spans!.Sum(s => s.Tokens) == r.Generated.Tokens && r.Generated.Spans![0].Version >= Math.Max(0, m.Iteration - 3));
            m.VersionLagMax.Should().BeLessThanOrEqualTo(2);
            m.Ledger!.Lost.Should().Be(0);
        }
    }

    [Fact]
    public async Task Balancing_the_workers_contexts_moves_running_samples_and_changes_no_response()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-async-balance", "streaming", "grpo") with { Iterations = 4 };
        // Progress told every 64 tokens and a balance every 5 device seconds (a sixth of a wall second at this
        // time scale): a step of reasoning lengths generates for several wall seconds, its workers' contexts uneven.
        spec = spec with { Rl = spec.Rl! with { Async = new AsyncSpec { MaxStaleness = 2, PartialRollouts = true, ProgressTokens = 64, BalanceEverySeconds = 5 },
            Emulation = spec.Rl.Emulation! with { Lengths = "reasoning", TimeScale = 30 } } };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(1, 2, 3, 4);
        foreach (var m in metrics)
        {
            var records = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained && r.Generated!.Spans!.Sum(s => s.Tokens) == r.Generated.Tokens);
            records.Select(r => r.Generated!.Tokens).Should().Equal(emulated.Workload(m.Iteration).Samples.Select(s => s.Response),
                "a moved sample goes on from its tokens so far to the length its seed draws");
            m.Ledger!.Should().Match<StepLedger>(l => l.Trained == 24 && l.Lost == 0);
            records.Sum(r => r.Dispatches - 1).Should().BeGreaterThanOrEqualTo(m.Ledger.Migrated, "each move sends its sample to a worker again");
        }
        metrics.Sum(m => m.Ledger!.Migrated).Should().BePositive("running samples moved between the workers");
    }

    [Fact]
    public async Task Running_ahead_as_needed_stays_one_step_ahead_where_training_is_slower_and_goes_further_where_generation_is()
    {
        var grains = fixture.Cluster.GrainFactory;
        JobSpec Job(string name, string lengths, int epochs, int replicas, RunAhead runAhead)
        {
            var spec = Emulated(name, "streaming", "grpo") with { Iterations = 6 };
            return spec with { Rl = spec.Rl! with { Epochs = epochs, TrainingReplicas = replicas, Async = new AsyncSpec { MaxStaleness = 3, RunAhead = runAhead },
                Emulation = spec.Rl.Emulation! with { Lengths = lengths, TimeScale = 30 } } };
        }
        // Chat lengths trained 24 times over on one replica: a step generates in a fraction of a step's training.
        var trainingBound = Job("emulated-run-ahead-training", "chat", epochs: 24, replicas: 1, RunAhead.Needed);
        var trainingBoundMost = Job("emulated-run-ahead-training-most", "chat", epochs: 24, replicas: 1, RunAhead.Most);
        // Reasoning lengths trained once on two replicas: a step's generation outlasts its training.
        var generationBound = Job("emulated-run-ahead-generation", "reasoning", epochs: 1, replicas: 2, RunAhead.Needed);

        var (status, metrics) = await RlJobTests.Run(grains, trainingBound);
        var (mostStatus, mostMetrics) = await RlJobTests.Run(grains, trainingBoundMost);
        var (generationStatus, generationMetrics) = await RlJobTests.Run(grains, generationBound);

        foreach (var s in new[] { status, mostStatus, generationStatus }) s.State.Should().Be(JobState.Completed, s.Message);
        metrics.Select(m => m.VersionLagMax).Should().Equal([0, 1, 1, 1, 1, 1], "each step's samples were in before its training began, and the next step's were not yet");
        mostMetrics.Select(m => m.VersionLagMax).Should().Equal([0, 1, 2, 3, 3, 3], "maxStaleness steps ahead whatever the trainer needs");
        generationMetrics.Max(m => m.VersionLagMax).Should().BeGreaterThan(1, "a step's samples were not all in when its training began");
        generationMetrics.Should().OnlyContain(m => m.VersionLagMax <= 3 && m.Ledger!.Trained == 24 && m.Ledger.Lost == 0);
    }

    [Fact]
    public async Task Without_partial_rollouts_pull_dispatch_sends_a_step_only_to_workers_done_with_the_steps_before_it()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-async-pull", "streaming", "grpo") with { Iterations = 5 };
        // At a time scale of 30 a step's generation lasts seconds of wall time, so a step begins while an older one's
        // tail is still generating even on a loaded machine (at 200 the device time was small beside the grains'
        // own work, and under load the premise below failed now and then).
        spec = spec with { Rl = spec.Rl! with { Dispatch = DispatchPolicy.Pull, Async = new AsyncSpec { MaxStaleness = 1 }, Emulation = spec.Rl.Emulation! with { Lengths = "reasoning", TimeScale = 30 } } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var steps = await Task.WhenAll(metrics.Select(m => Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()))));
        var caughtUp = 0;
        for (var i = 1; i < steps.Length; i++)
        {
            // Steps 1 and 2 are both generated with version 0, launched together: step 2 still waits for a worker's step 1.
            var older = steps.Take(i).SelectMany(s => s).ToArray();
            var started = steps[i].Min(r => r.Times.Dispatched!.Value);
            foreach (var worker in steps[i].GroupBy(r => r.Worker))
            {
                var lastOlder = older.Where(r => r.Worker == worker.Key).Select(r => r.Times.Generated!.Value).DefaultIfEmpty(DateTimeOffset.MinValue).Max();
                worker.Should().OnlyContain(r => r.Times.Dispatched >= lastOlder, $"step {i + 1}'s samples wait for {worker.Key}'s of the steps before to be generated, not on it");
                if (lastOlder > started) caughtUp++;
            }
        }
        caughtUp.Should().BePositive("some worker was still generating an earlier step when a step began");
    }

    [Fact]
    public async Task Every_emulated_replica_lost_at_once_is_set_up_again_and_the_job_goes_on_without_going_back()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-replicas-lost", "streaming", "grpo") with { Iterations = 6 };
        spec = spec with { Rl = spec.Rl! with { Emulation = spec.Rl.Emulation! with { TimeScale = 10 } } };
        var job = grains.GetGrain<IJobGrain>(spec.Name);
        await job.Submit(spec);

        // Once the first iteration is trained, both replicas lose their state, as new activations after their silo's loss would.
        while ((await job.Status()).IterationsDone < 1) await Task.Delay(20);
        await Task.WhenAll(Enumerable.Range(0, 2).Select(r => grains.GetGrain<ITrainerGrain>(JobKeys.For(spec).Trainer("actor", r)).Reset()));
        var (status, metrics) = await RlJobTests.Watch(grains, spec.Name);

        status.State.Should().Be(JobState.Completed, status.Message);
        status.Recoveries.Should().Be(0, "an emulated replica has no state to go back to a checkpoint for");
        metrics.Select(m => m.Iteration).Should().Equal(1, 2, 3, 4, 5, 6);
        metrics.Sum(m => m.ReplicasRebuilt).Should().Be(2, "each replica was set up again once");
    }

    [Fact]
    public async Task Long_tail_migration_gathers_each_steps_last_samples_on_one_worker_and_they_reach_the_lengths_their_seeds_draw()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-migration", "streaming", "grpo");
        spec = spec with { Rl = spec.Rl! with { Migration = new MigrationSpec { Remaining = 0.25, Workers = 1 }, Emulation = spec.Rl.Emulation! with { Lengths = "reasoning", TimeScale = 10 } } };
        // At a time scale of 10 a step's generation takes seconds of wall time: at 200 its tail finished before a gather could reach it.
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Sum(m => m.Ledger!.Migrated).Should().BePositive("a step's last quarter was spread over more than one worker");
        foreach (var m in metrics)
        {
            var records = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
            m.Ledger!.Trained.Should().Be(24);
            // Moved with their tokens so far, they finish at the lengths they would have had where they began.
            records.Select(r => r.Generated!.Tokens).Should().Equal(emulated.Workload(m.Iteration).Samples.Select(s => s.Response));
            var moved = records.Where(r => r.Dispatches > 1).ToArray();
            moved.Should().HaveCount(m.Ledger.Migrated, "every migrated sample was dispatched a second time, and only they");
            moved.Select(r => r.Worker).Distinct().Should().HaveCountLessThanOrEqualTo(1, "the tail went to one worker");
            m.Ledger.Migrated.Should().BeLessThanOrEqualTo(6, "at most the last quarter of 24 samples moves");
        }
    }

    [Fact]
    public async Task Emulated_tool_calls_stop_each_sample_where_its_seed_draws_them_and_a_moved_one_calls_again_where_it_lands()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-tools", "streaming", "grpo");
        var tools = new EmulatedToolsSpec { CallsPerSample = 3, LatencyMedianSeconds = 2, LatencySigma = 1, ResultTokens = 48 };
        spec = spec with { Rl = spec.Rl! with { Migration = new MigrationSpec { Remaining = 0.25, Workers = 1 }, Emulation = spec.Rl.Emulation! with { Lengths = "reasoning", TimeScale = 10, Tools = tools } } };
        var emulated = new EmulatedJob(spec);
        var plan = new ToolCallPlan(3, tools.MaxTurns, 2, 1, 48);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        foreach (var m in metrics)
        {
            var records = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
            var workload = emulated.Workload(m.Iteration).Samples;
            for (var k = 0; k < 24; k++)
            {
                // Independently: the calls the plan draws from the sample's seed over the length its seed draws.
                var (calls, length) = plan.Draw(Seeds.Mix(records[k].Start!.SamplingSeed, 0x7001), workload[k].Response, records[k].Start!.MaxNewTokens);
                records[k].Generated!.Tokens.Should().Be(length, $"sample {k}: its own tokens and its {calls.Length} results'");
                records[k].Generated!.Turns!.Calls.Should().Be(calls.Length, $"sample {k}, dispatched {records[k].Dispatches} times");
                records[k].Generated!.Turns!.Seconds.Should().BeApproximately(calls.Sum(c => c.Seconds), 1e-9);
            }
            m.Tools!.Calls.Should().Be(records.Sum(r => r.Generated!.Turns!.Calls));
            m.Tools.CallingShare.Should().Be(records.Count(r => r.Generated!.Turns!.Calls > 0) / 24.0);
        }
        metrics.Sum(m => m.Ledger!.Migrated).Should().BePositive("the tail moved, some samples while their call ran");
    }

    [Fact]
    public async Task Tail_batching_trains_each_prompt_once_on_policy_deferring_the_unfinished_to_a_long_round()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-tail-batching", "streaming", "grpo") with { Iterations = 4 };
        // Short rounds of 9 prompts x 6 responses keep 6 x 4: each defers 3 prompts, so the third step is a long round of the first two's 6.
        spec = spec with { Rl = spec.Rl! with { TailBatching = new TailBatchingSpec { ExtraPrompts = 0.5, ExtraResponses = 0.5 }, Emulation = spec.Rl.Emulation! with { Lengths = "reasoning" } } };
        var lengths = EmulatedCosts.Lengths(new EmulatedJob(spec).Generator);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => (m.Round!.Long, m.Round.Deferred)).Should().Equal((false, 3), (false, 6), (true, 0), (false, 3));
        var trainedPrompts = new List<long>();
        foreach (var m in metrics)
        {
            var launched = m.Round!.Long ? 24 : 54;
            m.Ledger!.Trained.Should().Be(24, $"iteration {m.Iteration} trains 6 prompts x 4 responses");
            (m.Ledger.Created, m.Ledger.Discarded, m.Ledger.Lost).Should().Be((launched, launched - 24, 0));
            if (m.Ledger.Discarded > 0) m.Ledger.DiscardedFor.Should().Equal(new Dictionary<string, int> { ["tail batching: its round had its groups first"] = launched - 24 });
            var records = (await Task.WhenAll(Enumerable.Range(0, launched).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record())))
                .Where(r => r.Stage == SampleStage.Trained).ToArray();
            records.Should().HaveCount(24);
            records.GroupBy(r => r.Start!.Group).Should().HaveCount(6).And.OnlyContain(g => g.Count() == 4);
            // On-policy: generated with the weights of the step before; at the lengths their prompt's and their own seed draw.
            records.Should().OnlyContain(r => r.Generated!.WeightVersion == m.Iteration - 1);
            records.Select(r => r.Generated!.Tokens).Should().Equal(records.Select(r => EmulatedCosts.ResponseLength(lengths, r.Start!.PromptSeed, r.Start.SamplingSeed, m.Iteration - 1, lengths.Max)));
            trainedPrompts.AddRange(records.Select(r => r.Start!.PromptSeed).Distinct());
            // The round's bound is over the samples it kept, at the lengths they reached, and the step took longer.
            var kept = IdealBound.For(new EmulatedJob(spec).Workload(m.Iteration, [.. records.Select(r => r.Generated!.Tokens)])).Seconds;
            m.Round!.BoundSeconds.Should().BeApproximately(kept, kept * 1e-9).And.BeLessThan(m.IterationSeconds * m.TimeScale);
        }
        // The data an epoch sees: every prompt drawn (9 by each short round) trained once, or still deferred (the last round's 3).
        int[] shortRounds = [1, 2, 4];
        var drawn = shortRounds.SelectMany(i => Enumerable.Range(0, 9).Select(p => Seeds.Prompt(spec.Seed, i, p))).ToList();
        trainedPrompts.Should().OnlyHaveUniqueItems();
        trainedPrompts.Should().HaveCount(24).And.BeSubsetOf(drawn);
        drawn.Except(trainedPrompts).Should().HaveCount(3, "the fourth step's deferred prompts wait for the next long round");
    }

    [Fact]
    public async Task Retuned_migration_runs_each_step_with_the_plan_chosen_over_the_lengths_the_step_before_reached()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated("emulated-retuned", "streaming", "grpo") with { Iterations = 3 };
        spec = spec with
        {
            Rl = spec.Rl! with
            {
                Migration = new MigrationSpec { Remaining = 0.25, Workers = 1, RetuneEvery = 1 },
                Emulation = spec.Rl.Emulation! with { Lengths = "reasoning", TimeScale = 10 },
            },
        };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Migration.Should().Be(new MigrationPlan(0.25, 1), "the first step runs with the file's settings");
        for (var i = 1; i < metrics.Length; i++)
        {
            // The planner's own choice over the lengths the step before reached, on the job's three workers.
            var before = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, metrics[i - 1].Iteration, k)).Record()));
            var workload = emulated.Workload(metrics[i - 1].Iteration);
            var plan = TailPlanner.Choose(workload.Generation, workload.WorkerCapacity, 3,
                [.. before.Select(r => new EmulatedSequence(r.Start!.Id, r.Start.PromptTokens, r.Generated!.Tokens))], new CacheTransfer(workload.WeightLink));
            metrics[i].Migration.Should().Be(plan.Workers > 0 ? new MigrationPlan(plan.Remaining, plan.Workers) : null, $"iteration {metrics[i].Iteration}");
        }
    }

    [Fact]
    public async Task Retuned_migration_of_a_job_training_early_runs_with_the_plan_whose_step_is_predicted_soonest()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = EmulatedJob.ColocatedAtSameDevices(Emulated("emulated-retuned-early", "streaming") with { Seed = 6, Iterations = 3 });
        spec = spec with
        {
            Rl = spec.Rl! with
            {
                GenerationWorkers = 3, TrainingReplicas = 3, Epochs = 1, TrainEarly = true, Migration = new MigrationSpec { Remaining = 0.25, Workers = 1, RetuneEvery = 1 },
                Emulation = spec.Rl.Emulation! with { InferenceDevices = 3, Lengths = "reasoning", TimeScale = 10 },
            },
        };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        for (var i = 1; i < metrics.Length; i++)
        {
            // Over the lengths the step before reached: the freed devices' scoring and training weighed against the tail's end.
            var before = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, metrics[i - 1].Iteration, k)).Record()));
            var workload = emulated.Workload(metrics[i - 1].Iteration, [.. before.Select(r => r.Generated!.Tokens)]);
            var plan = TailPlanner.ChooseForEarlyTraining(workload, new CacheTransfer(workload.WeightLink));
            metrics[i].Migration.Should().Be(plan.Workers > 0 ? new MigrationPlan(plan.Remaining, plan.Workers) : null, $"iteration {metrics[i].Iteration}");
            var bound = IdealBound.For(workload);
            var sequences = before.Select(r => new EmulatedSequence(r.Start!.Id, r.Start.PromptTokens, r.Generated!.Tokens)).ToArray();
            var generationOnly = TailPlanner.Choose(workload.Generation, workload.WorkerCapacity, 3, sequences, new CacheTransfer(workload.WeightLink));
            double Predicted(TailPlanner.Plan p) => Math.Max(p.Seconds + bound.Training / workload.TrainingSteps.Count, p.HeldDeviceSeconds / 3 + bound.Scoring + bound.Training);
            Predicted(plan).Should().BeLessThanOrEqualTo(Predicted(generationOnly) + 1e-9, "a step trained early is predicted no later than with the plan for generation alone");
        }
    }

    [Theory]
    [InlineData("barrier")]
    [InlineData("streaming")]
    public async Task A_ppo_job_on_emulated_devices_spends_the_cost_models_time_on_each_sample(string policy)
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Emulated($"emulated-{policy}", policy);
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(1, 2);
        foreach (var m in metrics)
        {
            var workload = emulated.Workload(m.Iteration);
            var records = await Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            records.Select(r => r.Generated!.Tokens).Should().Equal(workload.Samples.Select(s => s.Response), "each sample reaches the length its seed draws");
            records.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
            m.TimeScale.Should().Be(200);

            // Trainers' bars add up to the cost model's forward and backward over each replica's share of each step.
            var steps = workload.TrainingSteps;
            var actor = steps.Sum(step => step.Sum(share => workload.ActorTraining.TrainingSeconds(workload.Sequences(share))));
            var critic = steps.Sum(step => step.Sum(share => workload.CriticTraining!.TrainingSeconds(workload.Sequences(share))));
            Busy(m, "actor").Should().BeApproximately(actor, actor * 1e-4);
            Busy(m, "critic").Should().BeApproximately(critic, critic * 1e-4);
            m.Timeline.Where(t => TimelineAnalysis.Role(t.Holder) == "generation").Should().HaveCount(3);
            m.Timeline.Should().OnlyContain(t => t.Bars.All(b => b.End > b.Start && b.Start >= 0));

            // The order of events, as the sample grains stamped them (one clock; device bars run on the emulated clock).
            var lastGenerated = records.Max(r => r.Times.Generated!.Value);
            var firstScored = records.Min(r => r.Times.Scored!.Value);
            records.Should().OnlyContain(r => r.Times.Scored >= r.Times.Generated);
            if (policy == "barrier") firstScored.Should().BeOnOrAfter(lastGenerated, "a barrier scores nothing before the last response");
            else firstScored.Should().BeBefore(lastGenerated, "streaming scores a finished sample while the long tail still decodes");
        }
    }

    /// <summary>A colocated iteration's timeline: one row per device, through its worker; one thing at a time; generation, scoring, training, each after a switch.</summary>
    private static void EachDeviceGeneratesScoresThenTrains(IterationMetrics m, string job, int devices)
    {
        m.Timeline.Select(t => t.Holder).Should().BeEquivalentTo(Enumerable.Range(0, devices).Select(k => $"{job}/g{k}@{job}/d{k}"), "each device reports once, through its worker");
        foreach (var device in m.Timeline)
        {
            var bars = device.Bars.OrderBy(b => b.Start).ToArray();
            bars.Zip(bars.Skip(1)).Should().OnlyContain(p => p.Second.Start >= p.First.End - 1e-9, "one device does one thing at a time");
            bars.Select(b => b.Stage).Where((s, k) => k == 0 || bars[k - 1].Stage != s).Should().Equal(["generation", "switch", "scoring", "switch", "training", "switch"], device.Holder);
        }
    }

    [Fact]
    public async Task On_colocated_devices_each_device_generates_then_scores_then_trains_paying_each_switch()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = EmulatedJob.ColocatedAtSameDevices(Emulated("emulated-colocated", "barrier") with { Seed = 6 });
        spec.Rl!.GenerationWorkers.Should().Be(9, "3 workers, 2 scorers and 2 x 2 trainers make 9 devices");
        spec = spec with { Rl = spec.Rl with { GenerationWorkers = 3, TrainingReplicas = 3, Emulation = spec.Rl.Emulation! with { InferenceDevices = 3 } } };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var switches = emulated.Workload(1).Colocated!;
        foreach (var m in metrics)
        {
            EachDeviceGeneratesScoresThenTrains(m, spec.Name, devices: 3);
            foreach (var device in m.Timeline)
            {
                device.Bars.Where(b => b.Stage == "switch").Sum(b => b.End - b.Start).Should().BeApproximately(switches.RoundSeconds, switches.RoundSeconds * 1e-3);
            }
            // Each step, every device trains its actor's and its critic's share, one after the other.
            var workload = emulated.Workload(m.Iteration);
            var training = workload.TrainingSteps.Sum(step => step.Sum(share => workload.ActorTraining.TrainingSeconds(workload.Sequences(share)) + workload.CriticTraining!.TrainingSeconds(workload.Sequences(share))));
            m.Timeline.SelectMany(t => t.Bars).Where(b => b.Stage == "training").Sum(b => b.End - b.Start).Should().BeApproximately(training, training * 1e-4);
        }
    }

    [Theory]
    [InlineData("1f1b")]
    [InlineData("fused")]
    public async Task On_colocated_devices_a_pipelined_actor_and_critic_train_on_the_devices_that_generated(string schedule)
    {
        // Stage grains on the job's devices: their passes take the cost model's time for their layers, on the
        // device's one time line after its generation and scoring, and add up to the whole models' training.
        var grains = fixture.Cluster.GrainFactory;
        var spec = EmulatedJob.ColocatedAtSameDevices(Emulated($"emulated-colocated-{schedule}", "barrier") with { Seed = 6 });
        spec = spec with
        {
            Rl = spec.Rl! with
            {
                GenerationWorkers = 4, TrainingReplicas = 4, Emulation = spec.Rl.Emulation! with { InferenceDevices = 4 },
                Pipeline = new PipelineSpec { Stages = 2, CriticStages = schedule == "fused" ? 1 : 2, MicroBatches = 2, Schedule = SpecNames.Parse<PipelineScheduleKind>(schedule) },
            },
        };
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        foreach (var m in metrics)
        {
            EachDeviceGeneratesScoresThenTrains(m, spec.Name, devices: 4);
            // Every stage's forward and backward over its micro-batches: the actor's and the critic's training of each step's sequences.
            var workload = emulated.Workload(m.Iteration);
            var training = workload.TrainingSteps.Sum(step => workload.ActorTraining.TrainingSeconds(workload.Sequences([.. step.SelectMany(share => share)]))
                + workload.CriticTraining!.TrainingSeconds(workload.Sequences([.. step.SelectMany(share => share)])));
            // Each pass's end falls on a whole 100 ns tick of wall time (20 us emulated at this scale), over 128 passes a step.
            m.Timeline.SelectMany(t => t.Bars).Where(b => b.Stage == "training").Sum(b => b.End - b.Start).Should().BeApproximately(training, training * 1e-3);
            m.PipelineBubbleExpected.Should().BeInRange(0, 1);
            m.PolicyLoss.Should().Be(0, "an emulated model has no loss, but its tokens are counted");
        }
    }

    [Fact]
    public async Task On_colocated_devices_streamed_scoring_runs_only_on_devices_whose_worker_is_done()
    {
        // Streaming scores each sample once generated; on colocated devices it waits for a device whose worker
        // has generated its share (RLHFuse's freed devices), never sending one back from scoring to generation.
        var grains = fixture.Cluster.GrainFactory;
        var spec = EmulatedJob.ColocatedAtSameDevices(Emulated("emulated-colocated-streaming", "streaming") with { Seed = 6 });
        spec = spec with { Rl = spec.Rl! with { GenerationWorkers = 3, TrainingReplicas = 3, Emulation = spec.Rl.Emulation! with { InferenceDevices = 3 } } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        foreach (var m in metrics)
        {
            m.Timeline.SelectMany(t => t.Bars).Count(b => b.Stage == "scoring").Should().BePositive();
            foreach (var device in m.Timeline)
            {
                var lastGeneration = device.Bars.Where(b => b.Stage == "generation").Max(b => b.End);
                device.Bars.Where(b => b.Stage == "scoring").Should().NotContain(b => b.Start < lastGeneration - 1e-9, $"{device.Holder} scores only once its worker is done");
            }
        }
    }

    [Fact]
    public async Task On_colocated_devices_training_early_begins_where_the_tail_left_devices_free_and_never_where_one_still_generates()
    {
        // The tail (a quarter of a step of reasoning lengths) is gathered on one of three devices; the others score
        // what is generated and, with rl.trainEarly, compute the first mini-batch (the first 12 samples scored) while it runs.
        var grains = fixture.Cluster.GrainFactory;
        var spec = EmulatedJob.ColocatedAtSameDevices(Emulated("emulated-colocated-early", "streaming") with { Seed = 6 });
        spec = spec with
        {
            Rl = spec.Rl! with
            {
                GenerationWorkers = 3, TrainingReplicas = 3, Epochs = 1, TrainEarly = true, Migration = new MigrationSpec { Remaining = 0.25, Workers = 1 },
                Emulation = spec.Rl.Emulation! with { InferenceDevices = 3, Lengths = "reasoning", TimeScale = 10 },
            },
        };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        foreach (var m in metrics)
        {
            m.Ledger!.Trained.Should().Be(24);
            var generationEnd = m.Timeline.SelectMany(t => t.Bars).Where(b => b.Stage == "generation").Max(b => b.End);
            foreach (var device in m.Timeline)
            {
                var ownEnd = device.Bars.Where(b => b.Stage == "generation").Max(b => b.End);
                device.Bars.Where(b => b.Stage == "training").Should().NotContain(b => b.Start < ownEnd - 1e-9, $"{device.Holder} trains only once its worker is done");
                // The first mini-batch's chunks, while the tail generates: the tail's samples ended meanwhile wait to be scored
                // until the device has no chunk left (a turn of scoring between chunks would cost it two role switches).
                var early = device.Bars.Where(b => b.Stage == "training" && b.Start < generationEnd).ToArray();
                if (early.Length > 1)
                {
                    device.Bars.Where(b => b.Stage == "scoring").Should().NotContain(b => b.Start > early.Min(t => t.Start) && b.End < early.Max(t => t.End),
                        $"{device.Holder} scores nothing between the chunks it trains early");
                }
            }
            m.Timeline.SelectMany(t => t.Bars).Where(b => b.Stage == "training").Min(b => b.Start).Should().BeLessThan(generationEnd, "the first mini-batch began while the tail generated");
            m.EarlyTrainedSamples.Should().BeInRange(1, 12, "the second of the two mini-batches holds the tail, so it waits for it");
        }
    }

    [Fact]
    public async Task A_grpo_job_with_a_rule_based_reward_trains_only_the_actor()
    {
        var spec = Emulated("emulated-grpo", "streaming", "grpo");

        var (status, metrics) = await RlJobTests.Run(fixture.Cluster.GrainFactory, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Should().HaveCount(2);
        metrics.Should().OnlyContain(m => Bars(m, "critic").Length == 0 && Bars(m, "actor").Length > 0 && Bars(m, "scoring").Length > 0);
    }

    [Fact]
    public async Task An_unknown_shape_is_refused_at_submit_naming_the_field()
    {
        var spec = Emulated("emulated-bad", "barrier");
        spec = spec with { Rl = spec.Rl! with { Emulation = spec.Rl.Emulation! with { Critic = "llama-7000b" } } };

        var submit = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>(spec.Name).Submit(spec);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage("rl.emulation.critic: *llama-7000b*");
    }

    [Theory]
    [InlineData("B200", null, null, "rl.emulation.generationDeviceClass: *B200*")]
    [InlineData("H20", "H100", null, "rl.emulation.prices: no price for H20, which the job's generation workers are*")]
    [InlineData("H20", "H100,H20", -1.0, "rl.emulation.prices: \"H20\" costs -1, not a positive price per device-hour")]
    [InlineData("h20", "H100,H20", 0.0, "rl.emulation.prices: \"H20\" costs 0, not a positive price per device-hour")]
    public async Task Device_classes_and_prices_are_checked_at_submit_naming_the_field(string generation, string? priced, double? price, string message)
    {
        var spec = Emulated("emulated-priced-bad", "barrier");
        var prices = priced?.Split(',').ToDictionary(c => c, c => c == "H20" && price is { } p ? p : 2.0);
        spec = spec with { Rl = spec.Rl! with { Emulation = spec.Rl.Emulation! with { GenerationDeviceClass = generation, Prices = prices } } };

        var submit = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>(spec.Name).Submit(spec);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage(message);
    }

    /// <summary>A grpo job with skew-aware dispatch on three workers, the first a long-tail instance of four devices.</summary>
    private static JobSpec LongTail(string name, Func<RlSpec, RlSpec>? change = null)
    {
        var spec = Emulated(name, "streaming", "grpo") with { Iterations = 3 };
        var rl = spec.Rl! with
        {
            Dispatch = DispatchPolicy.SkewAware, SamplesPerPrompt = 8,
            Emulation = spec.Rl.Emulation! with { DatasetPrompts = 6, Lengths = "reasoning", LongTail = new LongTailSpec { Workers = 1, TensorParallel = 4 } },
        };
        return spec with { Rl = change?.Invoke(rl) ?? rl };
    }

    [Fact]
    public async Task A_long_tail_instance_of_four_devices_takes_the_head_of_the_forecast_order_and_counts_its_devices()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = LongTail("emulated-long-tail");
        var emulated = new EmulatedJob(spec);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        emulated.GeneratorFor(0).Device.TensorParallel.Should().Be(4);
        emulated.GeneratorFor(1).Device.TensorParallel.Should().Be(1);
        emulated.Devices.Should().Be(4 + 2 + 2 + 2, "the long-tail instance's four devices, two regular workers, two scorers and two replicas");
        emulated.Workload(1).LongTail.Should().Match<LongTailInstances>(l => l.Workers == 1 && l.Generation.TensorParallel == 4);
        metrics[0].Split.Should().Be(new SkewSplit(1, DispatchTuning.FirstLongBatch), "the instances are the workload's from the first step");
        metrics.Should().OnlyContain(m => m.Split!.LongWorkers == 1 && m.Ledger!.Lost == 0 && m.Ledger.Trained == 48);
        // The first step's forecast knows no prompt: its order is the samples' own, and the long-tail instance takes its head.
        var first = await Task.WhenAll(Enumerable.Range(0, 4).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, 1, k)).Record()));
        first.Should().OnlyContain(r => r.Generated!.Worker.StartsWith($"{spec.Name}/g0"));
    }

    [Fact]
    public async Task A_long_tail_instance_that_takes_tails_is_dealt_nothing_and_generates_each_steps_gathered_tail()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = LongTail("emulated-long-tail-tails", rl => rl with
        {
            Migration = new MigrationSpec { Remaining = 0.25, Workers = 1, RetuneEvery = 1 },
            Emulation = rl.Emulation! with { LongTail = rl.Emulation.LongTail! with { Role = LongTailRole.Tail } },
        });

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Should().OnlyContain(m => m.Split == new SkewSplit(1, 0) && m.Ledger!.Lost == 0 && m.Ledger.Trained == 48);
        metrics[0].Migration.Should().Be(new MigrationPlan(0.25, 1), "the first step runs with the file's share");
        // Each later step with the share its step before's simulation chose for the instance, or none where gathering ends no sooner.
        metrics.Skip(1).Should().OnlyContain(m => m.Migration == null || (m.Migration.Workers == 1 && TailPlanner.Thresholds.Contains(m.Migration.Remaining)));
        foreach (var m in metrics.Where(m => m.Migration is not null))
        {
            m.Ledger!.Migrated.Should().BePositive();
            var records = await Task.WhenAll(Enumerable.Range(0, 48).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()));
            var onInstance = records.Where(r => r.Generated!.Worker.StartsWith($"{spec.Name}/g0")).ToArray();
            onInstance.Should().NotBeEmpty($"step {m.Iteration}'s tail was gathered there");
            onInstance.Should().OnlyContain(r => r.Dispatches > 1, "nothing was dealt to it: each came from another worker");
        }
    }

    [Theory]
    [InlineData(3, 4, "skew-aware", "disaggregated", "*rl.emulation.longTail.workers: 3 must be at least 1 and fewer than rl.generationWorkers (3)*")]
    [InlineData(1, 3, "skew-aware", "disaggregated", "*rl.emulation.longTail.tensorParallel: 3 must be a power of two*")]
    [InlineData(1, 4, "pull", "disaggregated", "*rl.emulation.longTail: *set rl.dispatch to 'skew-aware'")]
    [InlineData(1, 4, "skew-aware", "colocated", "*rl.emulation.longTail: a colocated job's devices*")]
    [InlineData(1, 4, "skew-aware", "tail", "*rl.emulation.longTail.role: 'tail' gathers each step's tail onto the instances; add an rl.migration section*")]
    [InlineData(1, 4, "skew-aware", "tail-on-2", "*rl.migration.workers: 2, but the tail is gathered on the long-tail instances; set it to rl.emulation.longTail.workers (1)")]
    public async Task Bad_long_tail_instances_are_refused_at_submit_naming_the_field(int workers, int tensorParallel, string dispatch, string placement, string message)
    {
        // "tail": long-tail instances that take tails, without a migration section; "tail-on-2": with one gathering on 2 workers.
        var role = placement.StartsWith("tail") ? LongTailRole.Tail : LongTailRole.Head;
        var spec = LongTail("emulated-long-tail-bad", rl => rl with
        {
            Dispatch = SpecNames.Parse<DispatchPolicy>(dispatch), Placement = placement == "colocated" ? RolePlacement.Colocated : RolePlacement.Disaggregated,
            TrainingReplicas = placement == "colocated" ? 3 : rl.TrainingReplicas,
            Migration = placement == "tail-on-2" ? new MigrationSpec { Workers = 2 } : null,
            Emulation = rl.Emulation! with
            {
                InferenceDevices = placement == "colocated" ? 3 : 2, LongTail = new LongTailSpec { Workers = workers, TensorParallel = tensorParallel, Role = role },
            },
        });

        var submit = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>(spec.Name).Submit(spec);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Colocated_roles_cannot_generate_on_another_class()
    {
        var spec = Emulated("emulated-colocated-h20", "barrier");
        spec = spec with { Rl = spec.Rl! with { Placement = RolePlacement.Colocated, TrainingReplicas = 3, Emulation = spec.Rl.Emulation! with { InferenceDevices = 3, GenerationDeviceClass = "H20" } } };

        var build = () => new EmulatedJob(spec);

        build.Should().Throw<ArgumentException>().WithMessage("rl.emulation.generationDeviceClass: colocated roles share their devices*");
    }

    [Fact]
    public async Task Generation_on_its_own_device_class_is_timed_and_priced_as_that_class()
    {
        // Three generation workers on H20 beside two scoring and 2 x 2 training devices on H100, read from a job file.
        var json = """
            {"name": "emulated-h20-generation", "kind": "rl", "iterations": 2, "seed": 5,
             "rl": {"algorithm": "ppo", "devices": "emulated", "promptsPerIteration": 24, "samplesPerPrompt": 1, "miniBatches": 2, "epochs": 2,
                    "generationWorkers": 3, "trainingReplicas": 2, "maxBatch": 8,
                    "emulation": {"deviceClass": "H100", "generationDeviceClass": "H20", "actor": "qwen2.5-7b", "critic": "llama-13b", "inferenceDevices": 2,
                                  "lengths": "chat", "promptLength": 128, "timeScale": 200, "prices": {"H100": 2.5, "H20": 1.0}}}}
            """;
        var spec = JobSpec.FromJson(json, "job.json");
        var emulated = new EmulatedJob(spec);

        emulated.Generator.Device.DeviceClass.Should().Be("H20");
        emulated.Workload(1).Generation.Device.Should().Be(DeviceClass.H20, "the analytic prediction times generation on the workers' class");
        emulated.DevicesByClass.Should().BeEquivalentTo(new Dictionary<string, int> { ["H20"] = 3, ["H100"] = 6 });
        emulated.CostPerHour.Should().BeApproximately(3 * 1.0 + 6 * 2.5, 1e-12);
        new EmulatedJob(EmulatedJob.ColocatedAtSameDevices(spec)).DevicesByClass.Should().BeEquivalentTo(new Dictionary<string, int> { ["H100"] = 9 },
            "the colocated baseline runs every role on the training class");

        var (status, metrics) = await RlJobTests.Run(fixture.Cluster.GrainFactory, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Should().OnlyContain(m => m.Ledger!.Trained == 24);
    }

    private static TimelineBar[] Bars(IterationMetrics m, string role) =>
        m.Timeline.Where(t => TimelineAnalysis.Role(t.Holder) == role).SelectMany(t => t.Bars).ToArray();

    private static double Busy(IterationMetrics m, string role) => Bars(m, role).Sum(b => b.End - b.Start);
}
