using Microsoft.Extensions.Hosting;
using Silo;

var builder = Host.CreateApplicationBuilder(args);
builder.AddActorsSilo();
await builder.Build().RunAsync();
