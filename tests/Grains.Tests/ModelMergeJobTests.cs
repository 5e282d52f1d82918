using Grains.Interfaces.Jobs;
using Grains.Interfaces.Models;
using Grains.Models;
using Grains.Storage;
using Kernels.Checkpoints;

namespace Grains.Tests;

/// <summary>Models merged in the store (actors merge) and a job that starts from the merge (rl.initialWeights).</summary>
[Collection(ClusterCollection.Name)]
public sealed class ModelMergeJobTests(ClusterFixture fixture)
{
    private static readonly LocalCheckpointStore Store = new(ClusterFixture.CheckpointDirectory, 1 << 20);

    private static async Task<SafeTensorsContent> Read(string name) => SafeTensors.Load(new MemoryStream(await ModelCatalog.ReadAsync(Store, name)));

    [Fact]
    public async Task A_job_starts_from_a_linear_merge_of_a_trained_model_and_its_reference()
    {
        var grains = fixture.Cluster.Client;
        var (trained, _) = await RlJobTests.Run(grains, RlJobTests.Tiny("merge-source", iterations: 2));
        trained.State.Should().Be(JobState.Completed, trained.Message);
        var keys = new JobKeys("merge-source");

        var merged = await grains.GetGrain<IModelMergeGrain>(0).Merge(new MergeRequest
        {
            Inputs = [keys.ActorWeights(2), keys.ReferenceWeights], Weights = [0.25, 0.75], Output = "models/merge-test.safetensors",
        });
        var tiny = RlJobTests.Tiny("merge-started", iterations: 1);
        var (started, _) = await RlJobTests.Run(grains, tiny with { Rl = tiny.Rl! with { InitialWeights = merged.Output, SftSteps = 0 } });

        started.State.Should().Be(JobState.Completed, started.Message);
        using var actor = await Read(keys.ActorWeights(2));
        using var reference = await Read(keys.ReferenceWeights);
        using var result = await Read(merged.Output);
        using var startedFrom = await Read(new JobKeys("merge-started").ReferenceWeights);
        merged.Tensors.Should().Be(actor.Tensors.Count);
        foreach (var (name, tensor) in result.Tensors)
        {
            var expected = actor.Tensors[name] * 0.25 + reference.Tensors[name] * 0.75;
            tensor.allclose(expected, rtol: 1e-5, atol: 1e-6).Should().BeTrue($"{name} is 0.25 x the trained model's + 0.75 x its reference's");
            startedFrom.Tensors[name].allclose(tensor, rtol: 0, atol: 0).Should().BeTrue($"the job's reference (its actor at the start) is the merge's {name}");
        }
    }

    [Fact]
    public async Task A_model_imported_in_chunks_is_what_a_job_starting_from_it_begins_with()
    {
        var grains = fixture.Cluster.Client;
        using var model = new Kernels.Model.Transformer(ModelCatalog.Config(RlSpec.DemoModel));
        var bytes = ModelCatalog.Serialize(model);
        var import = grains.GetGrain<IModelImportGrain>("models/imported.safetensors");

        const int chunk = 1 << 20;
        for (var offset = 0; offset < bytes.Length; offset += chunk) await import.Append(offset, bytes[offset..Math.Min(bytes.Length, offset + chunk)]);
        await import.Append(0, bytes[..chunk]);
        var late = () => import.Append(bytes.Length + 10, [1]);
        await late.Should().ThrowAsync<ArgumentException>().WithMessage($"*a chunk at {bytes.Length + 10}, but {bytes.Length} bytes have come");
        var sha = await import.Commit(bytes.Length);
        var tiny = RlJobTests.Tiny("import-started", iterations: 1);
        var (started, _) = await RlJobTests.Run(grains, tiny with { Rl = tiny.Rl! with { InitialWeights = "models/imported.safetensors", SftSteps = 0 } });

        started.State.Should().Be(JobState.Completed, started.Message);
        sha.Should().BeEquivalentTo(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)), "a chunk sent twice was taken once");
        using var startedFrom = await Read(new JobKeys("import-started").ReferenceWeights);
        foreach (var (name, parameter) in model.state_dict()) startedFrom.Tensors[name].allclose(parameter, rtol: 0, atol: 0).Should().BeTrue(name);
    }

    [Fact]
    public async Task A_merge_of_models_that_differ_names_the_tensor_and_a_job_from_a_missing_object_is_refused_naming_the_field()
    {
        var grains = fixture.Cluster.Client;
        using (var one = new SafeTensorsContent(new() { ["w"] = TorchSharp.torch.ones(2) }, []))
        using (var other = new SafeTensorsContent(new() { ["w"] = TorchSharp.torch.ones(3) }, []))
        {
            foreach (var (name, model) in new[] { ("models/one.safetensors", one), ("models/other.safetensors", other) })
            {
                using var buffer = new MemoryStream();
                SafeTensors.Save(buffer, model.Tensors);
                await ModelCatalog.WriteAsync(Store, name, buffer.ToArray());
            }
        }
        var merge = grains.GetGrain<IModelMergeGrain>(0);

        var differ = () => merge.Merge(new MergeRequest { Inputs = ["models/one.safetensors", "models/other.safetensors"], Slerp = 0.5, Output = "models/never.safetensors" });
        var missing = () => merge.Merge(new MergeRequest { Inputs = ["models/one.safetensors", "models/none.safetensors"], Weights = [0.5, 0.5], Output = "models/never.safetensors" });
        var tiny = RlJobTests.Tiny("merge-missing");
        var submit = () => grains.GetGrain<IJobGrain>("merge-missing").Submit(tiny with { Rl = tiny.Rl! with { InitialWeights = "models/none.safetensors" } });

        await differ.Should().ThrowAsync<InvalidDataException>().WithMessage("merge of models/one.safetensors, models/other.safetensors: tensor 'w' is [2] in model 1 but [3] in model 2");
        await missing.Should().ThrowAsync<ArgumentException>().WithMessage("merge: no object 'models/none.safetensors' in the checkpoint store");
        await submit.Should().ThrowAsync<ArgumentException>().WithMessage("rl.initialWeights: 'models/none.safetensors' is not in the checkpoint store");
        (await Store.GetAsync("models/never.safetensors")).Should().BeNull("nothing is written when a merge is refused");
    }
}
