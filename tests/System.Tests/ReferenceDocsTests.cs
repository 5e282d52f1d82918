using Client.Docs;
using Testing;
using Xunit;

namespace System.Tests;

/// <summary>The committed references are the ones the settings classes make now: a setting added, renamed or re-documented without `actors reference` fails here.</summary>
public sealed class ReferenceDocsTests
{
    [Theory]
    [InlineData(ReferenceDocs.JobFileName)]
    [InlineData(ReferenceDocs.SiloSettingsName)]
    public void The_committed_reference_is_what_the_settings_classes_make(string page)
    {
        var committed = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "reference", page)).ReplaceLineEndings("\n");
        var made = page == ReferenceDocs.JobFileName ? ReferenceDocs.JobFile() : ReferenceDocs.SiloSettings();

        committed.Should().Be(made, $"docs/reference/{page} is made from the code: run `dotnet Client/bin/Release/net10.0/actors.dll reference` and commit it");
    }

    [Fact]
    public void Every_setting_is_described()
    {
        var undescribed = (ReferenceDocs.JobFile() + ReferenceDocs.SiloSettings()).Split('\n').Where(l => l.StartsWith("| `") && l.EndsWith("|  |")).ToList();

        undescribed.Should().BeEmpty("each field's doc comment is its description in the reference");
    }
}
