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
catch (InvalidDataException e)
{
    // A settings file that does not parse: the message names the file, the inner one the place.
    Console.Error.WriteLine($"configuration error: {e.Message}{(e.InnerException is { } inner ? $" {inner.Message}" : "")}");
    return 2;
}
catch (Exception e)
{
    // A silo that cannot start (its membership store unreachable, say) ends with one line, not a crash.
    Console.Error.WriteLine($"the silo could not start: {e.GetBaseException().Message}");
    return 1;
}
