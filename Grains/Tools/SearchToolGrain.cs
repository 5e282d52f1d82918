using Grains.Interfaces.Rl;
using Kernels.Tools;
using Orleans.Concurrency;

namespace Grains.Tools;

/// <summary>
/// The search tool ("[search item 4711]"): full-text search over the documents file its key names, indexed in
/// memory when the grain activates (each activation its own index: a stateless worker runs beside the others);
/// the answer is the best-matching document's text.
/// </summary>
[StatelessWorker]
public sealed class SearchToolGrain : Grain, IToolGrain
{
    private DocumentSearch? search;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        search = new DocumentSearch(DocumentSearch.ReadDocuments(this.GetPrimaryKeyString()));
        return Task.CompletedTask;
    }

    public Task<string> Call(string argument) => Task.FromResult(search!.Search(argument));

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        search?.Dispose();
        return Task.CompletedTask;
    }
}
