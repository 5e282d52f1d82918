using Microsoft.Extensions.Hosting;
using Silo;
using Silo.Options;

try
{
    // Settings files sit beside the executable, wherever it is started from.
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.AddActorsSilo();
    await builder.Build().RunAsync();
    return 0;
}
catch (ConfigurationException e)
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    return 2;
}
