using System.Reflection;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Refuses an option that takes a value but was given none (last on the line): Spectre.Console.Cli fills such a
/// value with the name of its internal default command, so `bench ... --json` wrote a file called "__default_command".
/// </summary>
public sealed class MissingOptionValue : ICommandInterceptor
{
    private const string Placeholder = "__default_command";

    public void Intercept(CommandContext context, CommandSettings settings)
    {
        foreach (var property in settings.GetType().GetProperties())
        {
            if (property.GetValue(settings) is not Placeholder) continue;
            var option = property.GetCustomAttribute<CommandOptionAttribute>()?.LongNames.FirstOrDefault() ?? property.Name;
            throw new ArgumentException($"--{option}: needs a value");
        }
    }

    public void InterceptResult(CommandContext context, CommandSettings settings, ref int result)
    {
    }
}
