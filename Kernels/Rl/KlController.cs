namespace Kernels.Rl;

/// <summary>
/// The KL coefficient beta. Fixed, or adaptive (Ziegler et al. 2019): after n steps that showed KL k,
/// beta *= 1 + clamp(k / target - 1, -0.2, 0.2) * n / horizon, steering the KL towards its target.
/// </summary>
public sealed class KlController
{
    private readonly double? target;
    private readonly double horizon;

    private KlController(double initial, double? target, double horizon)
    {
        if (initial < 0) throw new ArgumentOutOfRangeException(nameof(initial), initial, "the KL coefficient must be >= 0");
        Value = initial;
        this.target = target;
        this.horizon = horizon;
    }

    public double Value { get; private set; }

    public static KlController Fixed(double coefficient) => new(coefficient, null, 1);

    public static KlController Adaptive(double initial, double target, double horizon)
    {
        if (target <= 0) throw new ArgumentOutOfRangeException(nameof(target), target, "the target KL must be positive");
        if (horizon <= 0) throw new ArgumentOutOfRangeException(nameof(horizon), horizon, "the horizon must be positive");
        return new KlController(initial, target, horizon);
    }

    public void Update(double currentKl, int steps)
    {
        if (target is not { } goal) return;
        var error = Math.Clamp(currentKl / goal - 1, -0.2, 0.2);
        Value *= 1 + error * steps / horizon;
    }
}
