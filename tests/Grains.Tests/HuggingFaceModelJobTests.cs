using System.Text.Json.Nodes;
using Grains.Interfaces.Jobs;
using Grains.Models;
using Grains.Storage;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Tokenizers;
using Microsoft.ML.Tokenizers;
using Testing;

namespace Grains.Tests;

/// <summary>A job whose model is a Hugging Face folder: a Qwen2-shaped random model the test writes in four shards, with GPT-2's BPE vocabulary.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HuggingFaceModelJobTests(ClusterFixture fixture)
{
    private static readonly LocalCheckpointStore Store = new(ClusterFixture.CheckpointDirectory, 1 << 20);

    private static readonly ModelConfig Qwen2Shape = new()
    {
        VocabSize = 50257, HiddenSize = 32, Layers = 2, Heads = 4, KvHeads = 2, IntermediateSize = 64, MaxPositions = 64, ModelType = "qwen2", AttentionBias = true,
    };

    /// <summary>The folder, and the model written into it.</summary>
    private static string WriteFolder(string name, Transformer model, ModelConfig config)
    {
        var folder = Path.Combine(ClusterFixture.CheckpointDirectory, name);
        Directory.CreateDirectory(folder);
        var tokenizerJson = Gpt2Vocabulary.TokenizerJson();
        // The tokenizer first, so that its special ids go into config.json.
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizerJson.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "config.json"), new JsonObject { ["bos_token_id"] = 50256, ["eos_token_id"] = 50256 }.ToJsonString());
        var tokenizer = HuggingFaceTokenizer.Read(folder);
        var bytes = model.state_dict().Values.Sum(t => t.NumberOfElements * t.ElementSize);
        var files = HuggingFaceFolder.Write(folder, config, model.state_dict(), tokenizer, new Dictionary<string, JsonNode> { ["tokenizer.json"] = tokenizerJson }, 1.0, bytes / 4 + 1);
        files.Should().Contain(HuggingFaceFolder.IndexFile);
        return folder;
    }

    [Fact]
    public async Task A_job_on_a_hugging_face_folder_starts_from_its_weights_as_one_given_the_same_weights_by_the_project_and_speaks_its_tokens()
    {
        var grains = fixture.Cluster.Client;
        using var model = new Transformer(Qwen2Shape, HeadKind.LanguageModel, seed: 3);
        var folder = WriteFolder("hf-qwen2-gpt2", model, Qwen2Shape);
        const string written = "models/hf-qwen2-gpt2.safetensors";
        await ModelCatalog.WriteAsync(Store, written, ModelCatalog.Serialize(model));
        var tiny = RlJobTests.Tiny("hf-folder-job", iterations: 1);
        var fromFolder = tiny with { Rl = tiny.Rl! with { Model = folder, SftSteps = 0, MaxTokens = 16, MaxBatch = 16 } };
        var fromObject = fromFolder with { Name = "hf-folder-object-job", Rl = fromFolder.Rl! with { InitialWeights = written } };

        var (status, metrics) = await RlJobTests.Run(grains, fromFolder);
        var (objectStatus, objectMetrics) = await RlJobTests.Run(grains, fromObject);

        (status.State, objectStatus.State).Should().Be((JobState.Completed, JobState.Completed), status.Message + objectStatus.Message);
        using var reference = SafeTensors.Load(new MemoryStream(await ModelCatalog.ReadAsync(Store, new JobKeys("hf-folder-job").ReferenceWeights)));
        var own = model.state_dict();
        reference.Tensors.Keys.Should().BeEquivalentTo(own.Keys);
        foreach (var (name, tensor) in reference.Tensors) tensor.allclose(own[name], rtol: 0, atol: 0).Should().BeTrue($"the job's actor starts from the folder's {name}, bit for bit");
        metrics[1].RewardMean.Should().Be(objectMetrics[1].RewardMean);
        metrics[1].PolicyLoss.Should().Be(objectMetrics[1].PolicyLoss, "the same weights give the same step, from a folder or from an object the project wrote");

        var records = await grains.GetGrain<IJobGrain>("hf-folder-job").TrainedRecords(1);
        var gpt2 = TiktokenTokenizer.CreateForModel("gpt2");
        var tokenizer = ModelCatalog.Tokenizer(folder);
        records.Should().NotBeEmpty();
        foreach (var record in records)
        {
            var prompt = record.Start!.Prompt;
            var text = tokenizer.Decode(prompt);
            prompt.Should().Equal([Gpt2Vocabulary.EndOfText, .. gpt2.EncodeToIds(text)], $"the prompt {text} in GPT-2's tokens after its bos");
            record.Generated!.Response.Should().OnlyContain(t => t >= 0 && t < 50257);
        }
    }

    [Fact]
    public async Task A_folder_that_is_not_there_or_whose_weights_do_not_fit_its_config_is_refused_at_submit_naming_the_tensor()
    {
        var grains = fixture.Cluster.Client;
        using var model = new Transformer(Qwen2Shape, HeadKind.LanguageModel, seed: 4);
        var folder = WriteFolder("hf-misfit", model, Qwen2Shape);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        config["intermediate_size"] = 48;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var tiny = RlJobTests.Tiny("hf-misfit-job", iterations: 1);

        var misfit = () => grains.GetGrain<IJobGrain>("hf-misfit-job").Submit(tiny with { Rl = tiny.Rl! with { Model = folder } });
        var missing = () => grains.GetGrain<IJobGrain>("hf-missing-job").Submit(tiny with { Name = "hf-missing-job", Rl = tiny.Rl! with { Model = "/no/such/model" } });

        await misfit.Should().ThrowAsync<ArgumentException>().WithMessage($"rl.model: {folder} does not fit the model; mis-shaped: model.layers.0.mlp.gate_proj.weight (file [64, 32], model [48, 32]), *, model.layers.1.mlp.down_proj.weight (file [32, 64], model [32, 48])");
        await missing.Should().ThrowAsync<ArgumentException>().WithMessage("rl.model: model '/no/such/model' is neither a preset (demo) nor a Hugging Face model folder on this machine");
    }
}
