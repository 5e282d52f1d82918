namespace Kernels.Emulation;

/// <summary>
/// An asynchronous job's steps as its scheduler runs them on a generation pool, to its steady pace: what a
/// throughput target sizes the pools on. With maxStaleness k, steps 1 .. k + 1 are launched at once and step
/// j once step j - k - 1 has trained; a step trains once its samples are generated and the step before has
/// trained. Each step's samples are dealt as pull dispatch deals them with one weights version a worker: a
/// worker holding none takes up to its fair share of the step (ceil(samples / workers), at most its batch),
/// takes the step's next sample each time one of its own finishes, and a worker still holding an older
/// step's samples takes nothing newer until they are done; the oldest step with samples left is served first.
/// So a small pool runs its steps one after the other on each worker (every worker's share holds a long
/// response), and a large one overlaps them (workers whose shares were short start the next step early).
/// Scoring and the weights' load are left out: seconds beside a step's generation and training.
/// </summary>
public static class AsyncPipelineSimulation
{
    /// <summary>
    /// A step's seconds at the steady pace: the time between the trainings' ends over the steps after the first
    /// <paramref name="warmUp"/>. <paramref name="steps"/> are each step's samples in dispatch order,
    /// <paramref name="training"/> a step's training seconds by its index.
    /// </summary>
    public static double StepSeconds(CostModel cost, int capacity, int workers, int staleness, IReadOnlyList<IReadOnlyList<EmulatedSequence>> steps,
        Func<int, double> training, int warmUp)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker");
        if (staleness < 0) throw new ArgumentOutOfRangeException(nameof(staleness), staleness, "at least 0");
        if (warmUp < 1 || warmUp >= steps.Count) throw new ArgumentOutOfRangeException(nameof(warmUp), warmUp, $"between 1 and {steps.Count - 1}: a step's seconds are between two trainings' ends");
        var (_, trained) = Run(cost, capacity, workers, staleness, steps, training);
        return (trained[^1] - trained[warmUp - 1]) / (steps.Count - warmUp);
    }

    /// <summary>When each step's samples were all generated, and when its training ended.</summary>
    public static (double[] Generated, double[] Trained) Run(CostModel cost, int capacity, int workers, int staleness, IReadOnlyList<IReadOnlyList<EmulatedSequence>> steps, Func<int, double> training)
    {
        var batches = Enumerable.Range(0, workers).Select(_ => new EmulatedBatch(cost, capacity)).ToArray();
        var serving = Enumerable.Repeat(-1, workers).ToArray();
        // A worker with an event to come (its batch may be empty already: every sample of its last leap finished then).
        var busy = new bool[workers];
        var undealt = steps.Select(s => new Queue<EmulatedSequence>(s)).ToArray();
        var left = steps.Select(s => s.Count).ToArray();
        var share = steps.Select(s => Math.Clamp((s.Count + workers - 1) / workers, 1, capacity)).ToArray();
        var (generated, trained) = (new double[steps.Count], new double[steps.Count]);
        var launched = new List<int>();
        var events = new PriorityQueue<(int Worker, int Launch), (double Time, int Order)>();
        var order = 0;
        var finishing = new Dictionary<int, IReadOnlyList<EmulatedSequence>>();

        void Leap(int w, double now)
        {
            var (seconds, finished) = batches[w].Leap();
            finishing[w] = finished;
            busy[w] = true;
            events.Enqueue((w, -1), (now + seconds, order++));
        }
        // A worker holding nothing takes its share of the oldest launched step with samples left.
        void Serve(int w, double now)
        {
            foreach (var step in launched.Where(j => undealt[j].Count > 0))
            {
                serving[w] = step;
                for (var k = 0; k < share[step] && undealt[step].Count > 0 && batches[w].Fits(undealt[step].Peek()); k++) batches[w].Add(undealt[step].Dequeue());
                if (batches[w].Count > 0)
                {
                    Leap(w, now);
                    return;
                }
            }
            serving[w] = -1;
        }
        void Launch(int step, double now)
        {
            launched.Add(step);
            if (steps[step].Count == 0) Generated(step, now);
            for (var w = 0; w < workers; w++) if (!busy[w]) Serve(w, now);
        }
        var nextToTrain = 0;
        void Generated(int step, double now)
        {
            generated[step] = now;
            left[step] = -1;
            // Steps train in order, each once it is generated and the one before has trained; each training launches the step k + 1 after it.
            while (nextToTrain < steps.Count && left[nextToTrain] < 0)
            {
                trained[nextToTrain] = Math.Max(generated[nextToTrain], nextToTrain > 0 ? trained[nextToTrain - 1] : 0) + training(nextToTrain);
                if (nextToTrain + staleness + 1 < steps.Count) events.Enqueue((-1, nextToTrain + staleness + 1), (trained[nextToTrain], order++));
                nextToTrain++;
            }
        }

        for (var j = 0; j <= staleness && j < steps.Count; j++) Launch(j, 0);
        while (events.TryDequeue(out var e, out var at))
        {
            if (e.Launch >= 0)
            {
                Launch(e.Launch, at.Time);
                continue;
            }
            var (w, step) = (e.Worker, serving[e.Worker]);
            busy[w] = false;
            var finished = finishing[w];
            left[step] -= finished.Count;
            for (var f = 0; f < finished.Count && undealt[step].Count > 0 && batches[w].Fits(undealt[step].Peek()); f++) batches[w].Add(undealt[step].Dequeue());
            if (left[step] == 0) Generated(step, at.Time);
            if (batches[w].Count > 0) Leap(w, at.Time);
            else Serve(w, at.Time);
        }
        if (nextToTrain < steps.Count) throw new InvalidOperationException($"step {nextToTrain + 1}'s samples were never all generated: one fits on no worker");
        return (generated, trained);
    }
}
