using System.Security.Cryptography;
using Azure.Storage.Blobs;

namespace Silo.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class BlobRoundTripTests(AzuriteFixture fixture)
{
    [Fact]
    public async Task A_blob_written_to_Azurite_reads_back_byte_for_byte()
    {
        var container = new BlobContainerClient(fixture.Azurite.ConnectionString, "roundtrip");
        await container.CreateIfNotExistsAsync();
        var content = new byte[5 * 1024 * 1024 + 17]; // several upload blocks and a ragged tail
        new Random(42).NextBytes(content);
        var blob = container.GetBlobClient("weights/v1.bin");

        await blob.UploadAsync(new BinaryData(content), overwrite: true);
        var downloaded = (await blob.DownloadContentAsync()).Value.Content.ToArray();

        downloaded.Should().Equal(content);
        SHA256.HashData(downloaded).Should().Equal(SHA256.HashData(content));
        (await blob.GetPropertiesAsync()).Value.ContentLength.Should().Be(content.Length);
    }

    [Fact]
    public async Task A_missing_blob_is_reported_as_not_found()
    {
        var container = new BlobContainerClient(fixture.Azurite.ConnectionString, "missing");
        await container.CreateIfNotExistsAsync();

        var act = () => container.GetBlobClient("nothing-here").DownloadContentAsync();

        (await act.Should().ThrowAsync<Azure.RequestFailedException>()).Which.Status.Should().Be(404);
    }
}
