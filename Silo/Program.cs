using Silo;
using Silo.Options;

try
{
    await SiloHosting.RunAsync(args);
    return 0;
}
catch (ConfigurationException e)
{
    Console.Error.WriteLine($"configuration error: {e.Message}");
    return 2;
}
