using Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Silo;

/// <summary>The silo's Prometheus endpoint: the Actors meter and the Orleans runtime's, through OpenTelemetry.</summary>
public static class MetricsEndpoint
{
    /// <summary>Serves http://127.0.0.1:{port}/metrics in Prometheus' text format while the silo runs.</summary>
    public static IServiceCollection AddPrometheusEndpoint(this IServiceCollection services, int port)
    {
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(ActorsMeter.Name, "Microsoft.Orleans")
            .AddPrometheusHttpListener(o => (o.Host, o.Port) = ("127.0.0.1", port)));
        return services;
    }
}
