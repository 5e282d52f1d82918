using Microsoft.Extensions.Hosting;
using Silo;
using Silo.Options;

try
{
    var builder = Host.CreateApplicationBuilder(args);
    builder.AddActorsSilo();
    await builder.Build().RunAsync();
    return 0;
}
catch (ConfigurationException e)
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    return 2;
}
