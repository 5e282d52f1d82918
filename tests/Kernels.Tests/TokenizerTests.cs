using Kernels.Tokenizers;

namespace Kernels.Tests;

public sealed class TokenizerTests
{
    [Fact]
    public void Characters_map_after_the_special_tokens_and_round_trip()
    {
        var tokenizer = new CharTokenizer("ab+");

        tokenizer.VocabSize.Should().Be(6);
        tokenizer.Encode("ba+").Should().Equal(4, 3, 5);
        tokenizer.Decode([tokenizer.BosId, 4, 3, 5, tokenizer.EosId, tokenizer.PadId]).Should().Be("ba+");
        var tasks = CharTokenizer.ForTasks();
        tasks.Decode(tasks.Encode("12+345=357")).Should().Be("12+345=357");
    }

    [Fact]
    public void Unknown_characters_and_bad_alphabets_are_named()
    {
        FluentActions.Invoking(() => new CharTokenizer("ab").Encode("abc")).Should().Throw<ArgumentException>().WithMessage("*\"c\" (U+0063) at position 2*");
        FluentActions.Invoking(() => new CharTokenizer("aba")).Should().Throw<ArgumentException>().WithMessage("*repeats 'a'*");
    }
}
