using System.Text.Json.Nodes;
using Kernels.Tokenizers;
using Microsoft.ML.Tokenizers;
using Testing;

namespace Kernels.Tests;

public sealed class HuggingFaceTokenizerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("hf-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private void Write(JsonObject tokenizer, JsonObject config)
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
    }

    [Fact]
    public void A_gpt2_tokenizer_json_encodes_as_the_tiktoken_gpt2_tokenizer_does_and_decodes_back()
    {
        Write(Gpt2Vocabulary.TokenizerJson(), new JsonObject { ["bos_token_id"] = 50256, ["eos_token_id"] = 50256 });

        var tokenizer = HuggingFaceTokenizer.Read(folder);

        var reference = TiktokenTokenizer.CreateForModel("gpt2");
        (tokenizer.VocabSize, tokenizer.EosId, tokenizer.BosId, tokenizer.PadId).Should().Be((50257, 50256, 50256, 50256));
        foreach (var text in new[] { "item 4711+23=81", "Hello world, don't panic!", "  two spaces\n\nand lines\ttabbed", "ünïcode 日本語 🙂", "[calc 58+23]<81>81" })
        {
            var ids = tokenizer.Encode(text);
            ids.Should().Equal(reference.EncodeToIds(text), text);
            tokenizer.Decode([tokenizer.BosId, .. ids, tokenizer.EosId]).Should().Be(text, "special tokens are left out of the text");
        }
        tokenizer.Encode("item 4711").Length.Should().BeLessThan("item 4711".Length, "BPE merges characters");
    }

    [Fact]
    public void The_character_vocabulary_actors_export_writes_reads_back_as_the_same_tokenizer()
    {
        var exported = CharTokenizer.ForTasks();
        Write(exported.ToHuggingFaceJson(), new JsonObject { ["bos_token_id"] = exported.BosId, ["eos_token_id"] = exported.EosId });

        var read = HuggingFaceTokenizer.Read(folder);

        read.Should().BeOfType<CharTokenizer>();
        read.Encode("item 4711+23=81").Should().Equal(exported.Encode("item 4711+23=81"));
        (read.VocabSize, read.EosId).Should().Be((exported.VocabSize, exported.EosId));
    }

    [Theory]
    [InlineData("""{"model":{"type":"Unigram","vocab":[]}}""", """{"eos_token_id":2}""", "tokenizer.json: model type 'Unigram' is not supported (byte-level BPE, or the WordLevel vocabulary actors export writes)")]
    [InlineData("""{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"Metaspace"}}""", """{"eos_token_id":2}""", "tokenizer.json: a BPE model without a ByteLevel pre-tokenizer or decoder is not supported*")]
    [InlineData("""{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"}}""", """{"bos_token_id":0}""", "config.json: eos_token_id is missing (generation stops at it)")]
    [InlineData("""{"model":{"type":"WordLevel","vocab":{"a":0}}}""", """{"eos_token_id":2}""", "tokenizer.json: a WordLevel vocabulary is read only as actors export writes it*")]
    [InlineData("""{"model":""", """{"eos_token_id":2}""", "tokenizer.json: *")]
    public void A_tokenizer_it_cannot_read_is_refused_naming_the_file_and_what_is_wrong(string tokenizer, string config, string error)
    {
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizer);
        File.WriteAllText(Path.Combine(folder, "config.json"), config);

        var read = () => HuggingFaceTokenizer.Read(folder);

        read.Should().Throw<InvalidDataException>().WithMessage(Path.Combine(folder, error));
    }
}
