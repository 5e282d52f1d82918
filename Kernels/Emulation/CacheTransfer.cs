namespace Kernels.Emulation;

/// <summary>
/// How a running sequence moved to another worker resumes there: with its KV cache sent over
/// <see cref="Link"/> where the cost model says that is sooner than prefilling its context again, or
/// always with <see cref="Always"/>. (Without one, a moved sequence is prefilled again.)
/// </summary>
public sealed record CacheTransfer(Link Link, bool Always = false)
{
    /// <summary>Whether a sequence with <paramref name="context"/> tokens so far travels with its cache: transfer seconds below its prefill's.</summary>
    public bool Carries(CostModel cost, int context) => Always || cost.CacheTransferSeconds([context], Link) < cost.PrefillSeconds([context]);
}
