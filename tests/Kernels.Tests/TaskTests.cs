using Kernels.Tasks;
using Kernels.Tokenizers;

namespace Kernels.Tests;

public sealed class TaskTests
{
    [Fact]
    public void Arithmetic_examples_are_right_and_the_reward_is_exact_match()
    {
        var task = new ArithmeticTask(3, "+-");
        var examples = TaskDataset.Generate(task, 500, seed: 3);

        foreach (var e in examples)
        {
            var op = e.Prompt.IndexOfAny(['+', '-'], 1);
            var (a, b) = (int.Parse(e.Prompt[..op]), int.Parse(e.Prompt[(op + 1)..^1]));
            int.Parse(e.Answer).Should().Be(e.Prompt[op] == '+' ? a + b : a - b);
        }
        examples.Should().Contain(e => e.Prompt.Contains('-')).And.Contain(e => e.Prompt.Contains('+'));
        task.Reward(new TaskExample("12+30=", "42"), "42").Should().Be(1);
        task.Reward(new TaskExample("12+30=", "42"), "042").Should().Be(0);
        task.Reward(new TaskExample("12+30=", "42"), "4").Should().Be(0);
        TaskDataset.Generate(task, 50, seed: 3).Should().Equal(examples.Take(50), "generation is a pure function of the seed");
    }

    [Fact]
    public void Run_length_answers_have_a_long_tail_and_partial_credit_counts_matching_positions()
    {
        var task = new RunLengthTask();
        var lengths = TaskDataset.Generate(task, 5000, seed: 11).Select(e => e.Answer.Length + 1).Order().ToArray();
        var (median, p99) = (lengths[lengths.Length / 2], lengths[(int)Math.Ceiling(0.99 * lengths.Length) - 1]);

        ((double)p99 / median).Should().BeGreaterThanOrEqualTo(5, $"median {median}, p99 {p99}");
        var example = new TaskExample("3a2b=", "aaabb");
        example.Answer.Should().Be("aaabb");
        task.Reward(example, "aaabb").Should().Be(1);
        task.Reward(example, "aaab").Should().Be(4 / 5.0);
        task.Reward(example, "aaabbbbbbb").Should().Be(5 / 10.0, "extra characters count against the response");
        task.Reward(example, "baabb").Should().Be(4 / 5.0);
        foreach (var e in TaskDataset.Generate(task, 200, seed: 5))
        {
            var expanded = System.Text.RegularExpressions.Regex.Matches(e.Prompt, @"(\d+)([a-z])").Select(m => new string(m.Groups[2].Value[0], int.Parse(m.Groups[1].Value)));
            string.Concat(expanded).Should().Be(e.Answer);
        }
    }

    [Fact]
    public void A_dataset_round_trips_and_a_bad_line_is_reported_with_its_number()
    {
        var examples = TaskDataset.Generate(new ArithmeticTask(), 5, seed: 1);
        var writer = new StringWriter();
        TaskDataset.Write(writer, examples);

        TaskDataset.Read(new StringReader(writer.ToString())).Should().Equal(examples);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var broken = string.Join('\n', lines[0], lines[1], "{\"prompt\": \"1+1=\", \"answer\": ", lines[2]);
        FluentActions.Invoking(() => TaskDataset.Read(new StringReader(broken), "train.jsonl"))
            .Should().Throw<InvalidDataException>().WithMessage("train.jsonl:3: *");
        FluentActions.Invoking(() => TaskDataset.Read(new StringReader("{\"prompt\": \"1+1=\"}\n"), "d.jsonl"))
            .Should().Throw<InvalidDataException>().WithMessage("d.jsonl:1: \"answer\" is missing");
        FluentActions.Invoking(() => TaskDataset.Read(new StringReader("{\"prompt\": \"1+1=\", \"answer\": \"2\", \"extra\": 1}\n"), "d.jsonl"))
            .Should().Throw<InvalidDataException>().WithMessage("d.jsonl:1: *extra*");
        var encoding = new TaskEncoding(CharTokenizer.ForTasks());
        FluentActions.Invoking(() => encoding.Check([new("1+1=", "2"), new("1+1=", "TWO")], "d.jsonl", 512, 8))
            .Should().Throw<InvalidDataException>().WithMessage("d.jsonl:2: character \"T\" (U+0054)*");
    }

    [Fact]
    public void A_dataset_error_names_the_files_line_past_blank_lines_and_a_prompt_too_long_for_the_model()
    {
        var encoding = new TaskEncoding(CharTokenizer.ForTasks());
        var read = TaskDataset.Read(new StringReader("{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n\n\n{\"prompt\": \"1+1=\", \"answer\": \"TWO\"}\n"), "d.jsonl");
        FluentActions.Invoking(() => encoding.Check(read, "d.jsonl", 512, 8)).Should().Throw<InvalidDataException>().WithMessage("d.jsonl:4: character \"T\" (U+0054)*");

        var long1 = new string('1', 10_000) + "+1=";
        var tooLong = TaskDataset.Read(new StringReader($"{{\"prompt\": \"1+1=\", \"answer\": \"2\"}}\n\n{{\"prompt\": \"{long1}\", \"answer\": \"2\"}}\n"), "d.jsonl");
        FluentActions.Invoking(() => encoding.Check(tooLong, "d.jsonl", 512, 8)).Should().Throw<InvalidDataException>()
            .WithMessage("d.jsonl:3: a prompt of 10004 tokens and up to 8 response tokens exceed the model's 512 positions");
        encoding.Check([new("1+1=", "2")], "generated", 14, 8);
        FluentActions.Invoking(() => encoding.Check([new("1+1=", "2")], "generated", 14, 9)).Should().Throw<InvalidDataException>().WithMessage("generated:1: *");
    }
}
