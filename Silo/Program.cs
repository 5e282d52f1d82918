using Silo;
using Silo.Options;

try
{
    await SiloHosting.RunAsync(args);
    return 0;
}
catch (Exception e)
{
    var (line, exitCode) = StartupErrors.Describe(e);
    Console.Error.WriteLine(line);
    return exitCode;
}
