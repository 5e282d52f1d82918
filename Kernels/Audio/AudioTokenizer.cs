namespace Kernels.Audio;

/// <summary>
/// Audio as tokens of two codebooks, as Step-Audio tokenizes speech: a linguistic codebook of frames every 60 ms
/// (16.7 Hz) and a semantic one every 40 ms (25 Hz), interleaved two linguistic then three semantic per 120 ms.
/// Token ids: a linguistic code c is c, a semantic code c is <see cref="LinguisticSize"/> + c. Decoding is unit
/// selection, simple and honest: for each semantic token it lays 40 ms of training audio, a frame of that code (among
/// the code's frames nearest its centroid), the group's three chosen together so the two 60 ms linguistic frames they
/// make are tokenized as the group's linguistic codes where any choice is, and lie nearest their centroids. Features do
/// not overlap (a frame's window is its hop) and a group spans whole frames of both rates, so a decoded group tokenized
/// again gives its semantic tokens back exactly.
/// </summary>
public sealed class AudioTokenizer
{
    public const double LinguisticHop = 0.06, SemanticHop = 0.04;

    /// <summary>Audio tokens a second of speech: 16.7 linguistic + 25 semantic, 41.7.</summary>
    public const double TokensPerSecond = 1 / LinguisticHop + 1 / SemanticHop;

    /// <summary>Frames of each semantic code the decoder chooses among.</summary>
    public const int Candidates = 16;

    // Each semantic code's candidate frames' audio, nearest its centroid first.
    private readonly float[][][] snippets;

    private AudioTokenizer(Codebook linguistic, Codebook semantic, float[][][] snippets) => (Linguistic, Semantic, this.snippets) = (linguistic, semantic, snippets);

    public Codebook Linguistic { get; }
    public Codebook Semantic { get; }
    public int LinguisticSize => Linguistic.Size;
    public int VocabSize => Linguistic.Size + Semantic.Size;

    /// <summary>Learns both codebooks on the clips' frames, and keeps the audio of each semantic code's frames nearest its centroid.</summary>
    public static AudioTokenizer Learn(IReadOnlyList<AudioClip> clips, int linguisticSize, int semanticSize, long seed)
    {
        var audio = clips.Select(c => c.Resampled()).ToArray();
        var linguistic = Codebook.Learn([.. audio.SelectMany(c => LogMel.Frames(c, LinguisticHop))], linguisticSize, seed);
        var frames = audio.SelectMany((c, k) => LogMel.Frames(c, SemanticHop).Select((f, t) => (Frame: f, Clip: k, At: t))).ToArray();
        var semantic = Codebook.Learn([.. frames.Select(f => f.Frame)], semanticSize, seed + 1);
        var hop = LogMel.HopSamples(SemanticHop);
        var codes = semantic.Encode([.. frames.Select(f => f.Frame)]);
        var members = frames.Select((f, k) => (f.Frame, f.Clip, f.At, Code: codes[k])).ToLookup(f => f.Code);
        var snippets = semantic.Centroids.Select((centroid, code) => members[code]
            .OrderBy(f => f.Frame.Zip(centroid, (a, b) => (a - b) * (a - b)).Sum()).Take(Candidates)
            .Select(f => audio[f.Clip].Samples[(f.At * hop)..((f.At + 1) * hop)]).ToArray()).ToArray();
        if (Array.FindIndex(snippets, s => s.Length == 0) is var empty and >= 0) throw new InvalidOperationException($"semantic code {empty} has no frame of its own after k-means");
        return new AudioTokenizer(linguistic, semantic, snippets);
    }

    /// <summary>The codebooks and the decoder's frames as safetensors, under Hugging Face-style names (audio_codebooks.safetensors beside a model).</summary>
    public void Save(string path)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var hop = LogMel.HopSamples(SemanticHop);
        var frames = new float[Semantic.Size * Candidates * hop];
        var counts = new long[Semantic.Size];
        for (var c = 0; c < Semantic.Size; c++)
        {
            counts[c] = snippets[c].Length;
            for (var k = 0; k < snippets[c].Length; k++) snippets[c][k].CopyTo(frames, (c * Candidates + k) * hop);
        }
        Checkpoints.SafeTensors.Save(path, new Dictionary<string, TorchSharp.torch.Tensor>
        {
            ["audio.linguistic.centroids"] = Matrix(Linguistic.Centroids),
            ["audio.semantic.centroids"] = Matrix(Semantic.Centroids),
            ["audio.semantic.frames"] = TorchSharp.torch.tensor(frames).view(Semantic.Size, Candidates, hop),
            ["audio.semantic.frame_counts"] = TorchSharp.torch.tensor(counts),
        }, new Dictionary<string, string> { ["linguistic_hop"] = LinguisticHop.ToString(System.Globalization.CultureInfo.InvariantCulture), ["semantic_hop"] = SemanticHop.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>A tokenizer <see cref="Save"/> wrote; a file without its tensors, or of other shapes, is refused naming it.</summary>
    public static AudioTokenizer Load(string path)
    {
        using var content = Checkpoints.SafeTensors.Load(path);
        TorchSharp.torch.Tensor Get(string name) => content.Tensors.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"{path}: no tensor '{name}'");
        var (linguistic, semantic, frames, counts) = (Get("audio.linguistic.centroids"), Get("audio.semantic.centroids"), Get("audio.semantic.frames"), Get("audio.semantic.frame_counts"));
        var hop = LogMel.HopSamples(SemanticHop);
        if (linguistic.dim() != 2 || semantic.dim() != 2 || linguistic.shape[1] != LogMel.Bands || semantic.shape[1] != LogMel.Bands
            || !frames.shape.SequenceEqual([semantic.shape[0], (long)Candidates, hop]) || !counts.shape.SequenceEqual([semantic.shape[0]]))
        {
            throw new InvalidDataException($"{path}: the codebooks' shapes do not fit ({LogMel.Bands} mel bands, {Candidates} frames of {hop} samples a semantic code)");
        }
        var flat = frames.to(TorchSharp.torch.float32).data<float>().ToArray();
        var count = counts.data<long>().ToArray();
        var snippets = Enumerable.Range(0, (int)semantic.shape[0]).Select(c => Enumerable.Range(0, (int)count[c])
            .Select(k => flat[((c * Candidates + k) * hop)..((c * Candidates + k + 1) * hop)]).ToArray()).ToArray();
        if (Array.FindIndex(snippets, s => s.Length == 0) is var empty and >= 0) throw new InvalidDataException($"{path}: semantic code {empty} has no frame to decode to");
        return new AudioTokenizer(Codebook.FromCentroids(Rows(linguistic)), Codebook.FromCentroids(Rows(semantic)), snippets);
    }

    private static TorchSharp.torch.Tensor Matrix(float[][] rows) => TorchSharp.torch.tensor(rows.SelectMany(r => r).ToArray()).view(rows.Length, rows[0].Length);

    private static float[][] Rows(TorchSharp.torch.Tensor matrix)
    {
        var flat = matrix.to(TorchSharp.torch.float32).data<float>().ToArray();
        var width = (int)matrix.shape[1];
        return [.. Enumerable.Range(0, (int)matrix.shape[0]).Select(r => flat[(r * width)..((r + 1) * width)])];
    }

    /// <summary>The clip's tokens, interleaved 2:3 over its whole 120 ms groups.</summary>
    public int[] Encode(AudioClip clip)
    {
        var linguistic = Linguistic.Encode(LogMel.Frames(clip, LinguisticHop));
        var semantic = Semantic.Encode(LogMel.Frames(clip, SemanticHop));
        var groups = Math.Min(linguistic.Length / 2, semantic.Length / 3);
        var tokens = new int[groups * 5];
        for (var g = 0; g < groups; g++)
        {
            tokens[5 * g] = linguistic[2 * g];
            tokens[5 * g + 1] = linguistic[2 * g + 1];
            for (var s = 0; s < 3; s++) tokens[5 * g + 2 + s] = LinguisticSize + semantic[3 * g + s];
        }
        return tokens;
    }

    /// <summary>
    /// 16 kHz audio of the tokens, 120 ms a group (two linguistic then three semantic tokens; a last incomplete group is
    /// left out); a token outside the audio vocabulary, or of the wrong codebook for its place, is refused naming its position.
    /// </summary>
    public AudioClip Decode(IReadOnlyList<int> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var (low, high) = i % 5 < 2 ? (0, LinguisticSize) : (LinguisticSize, VocabSize);
            if (tokens[i] < low || tokens[i] >= high)
            {
                throw new ArgumentException($"audio token {tokens[i]} at position {i} is not a {(i % 5 < 2 ? "linguistic" : "semantic")} code ({low}-{high - 1})");
            }
        }
        var samples = new List<float>();
        for (var g = 0; g + 5 <= tokens.Count; g += 5)
        {
            var (lefts, middles, rights) = (snippets[tokens[g + 2] - LinguisticSize], snippets[tokens[g + 3] - LinguisticSize], snippets[tokens[g + 4] - LinguisticSize]);
            // The first linguistic frame is the first semantic frame and half the second; the second, the other half and the
            // third. Given the middle frame the two are independent: for each middle candidate the best first and the best
            // third, so the best of all triples costs 2 C^2 frames rather than C^3.
            var firsts = Costs(middles.SelectMany(b => lefts.Select(a => (float[])[.. a, .. b[..(b.Length / 2)]])), tokens[g]);
            var seconds = Costs(middles.SelectMany(b => rights.Select(c => (float[])[.. b[(b.Length / 2)..], .. c])), tokens[g + 1]);
            var (middle, first, third) = Enumerable.Range(0, middles.Length)
                .Select(m => (Middle: m, First: Best(firsts, m * lefts.Length, lefts.Length), Third: Best(seconds, m * rights.Length, rights.Length)))
                .MinBy(t => firsts[t.Middle * lefts.Length + t.First] + seconds[t.Middle * rights.Length + t.Third]);
            samples.AddRange(lefts[first]);
            samples.AddRange(middles[middle]);
            samples.AddRange(rights[third]);
        }
        return new AudioClip([.. samples], AudioClip.Rate);
    }

    /// <summary>
    /// How far each 60 ms join lies from linguistic code <paramref name="linguistic"/>: first whether it would be tokenized
    /// as that code (a join nearer another centroid costs 1e9 more), then its squared distance to the code's centroid.
    /// </summary>
    private double[] Costs(IEnumerable<float[]> joins, int linguistic)
    {
        var frames = LogMel.Frames(new AudioClip([.. joins.SelectMany(j => j)], AudioClip.Rate), LinguisticHop);
        var codes = Linguistic.Encode(frames);
        var centroid = Linguistic.Centroids[linguistic];
        return [.. frames.Select((f, k) => (codes[k] == linguistic ? 0 : 1e9) + f.Zip(centroid, (a, b) => (double)(a - b) * (a - b)).Sum())];
    }

    private static int Best(double[] costs, int start, int count) => Enumerable.Range(0, count).MinBy(k => costs[start + k]);

    /// <summary>The share of a clip's tokens that its decoded audio, tokenized again, gives back (position by position): overall, linguistic and semantic.</summary>
    public (double All, double Linguistic, double Semantic) RoundTrip(AudioClip clip)
    {
        var tokens = Encode(clip);
        var again = Encode(Decode(tokens));
        int same = 0, sameLinguistic = 0, sameSemantic = 0;
        for (var i = 0; i < tokens.Length; i++)
        {
            if (i >= again.Length || tokens[i] != again[i]) continue;
            same++;
            if (i % 5 < 2) sameLinguistic++;
            else sameSemantic++;
        }
        var groups = tokens.Length / 5.0;
        return tokens.Length == 0 ? (0, 0, 0) : ((double)same / tokens.Length, sameLinguistic / (2 * groups), sameSemantic / (3 * groups));
    }
}
