using FluentAssertions;
using Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Xunit;

namespace Grains.Tests;

/// <summary>The ledger as files in a directory that silos on one machine share.</summary>
public sealed class DirectoryGrainStorageTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), $"ledger-{Guid.NewGuid():N}");
    private readonly ServiceProvider services = new ServiceCollection().AddSerializer().BuildServiceProvider();
    private static readonly GrainId Sample = GrainId.Create("sample", "job/3/17");

    private DirectoryGrainStorage Storage() => new(root, services.GetRequiredService<Serializer>());

    [Fact]
    public async Task A_state_never_written_reads_as_none()
    {
        var untouched = new List<int> { 7 };
        var state = new GrainState<List<int>>(untouched);

        await Storage().ReadStateAsync("sample", Sample, state);

        (state.RecordExists, state.ETag).Should().Be((false, (string?)null));
        state.State.Should().BeSameAs(untouched);
    }

    [Fact]
    public async Task A_written_state_reads_back_on_another_silo_and_a_cleared_one_reads_as_none()
    {
        await Storage().WriteStateAsync("sample", Sample, new GrainState<List<int>>([5, 9, 12]));

        var read = new GrainState<List<int>>();
        await Storage().ReadStateAsync("sample", Sample, read);
        read.RecordExists.Should().BeTrue();
        read.State.Should().Equal(5, 9, 12);

        await Storage().ClearStateAsync("sample", Sample, read);
        var again = new GrainState<List<int>>();
        await Storage().ReadStateAsync("sample", Sample, again);
        again.RecordExists.Should().BeFalse();
    }

    [Fact]
    public async Task A_state_that_does_not_read_is_an_error_naming_the_grain_and_its_file()
    {
        await Storage().WriteStateAsync("sample", Sample, new GrainState<List<int>>([1]));
        var file = Directory.GetFiles(root, "*", SearchOption.AllDirectories).Single();
        await File.WriteAllBytesAsync(file, [0xFF, 0xFE, 0x01]);

        var read = () => Storage().ReadStateAsync("sample", Sample, new GrainState<List<int>>());

        (await read.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Contain("sample/job/3/17").And.Contain(file);
    }

    public void Dispose()
    {
        services.Dispose();
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }
}
