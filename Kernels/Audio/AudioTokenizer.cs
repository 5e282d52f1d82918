namespace Kernels.Audio;

/// <summary>
/// Audio as tokens of two codebooks, as Step-Audio tokenizes speech: a linguistic codebook of frames every 60 ms
/// (16.7 Hz) and a semantic one every 40 ms (25 Hz), interleaved two linguistic then three semantic per 120 ms.
/// Token ids: a linguistic code c is c, a semantic code c is <see cref="LinguisticSize"/> + c. Decoding is unit
/// selection, simple and honest: for each semantic token it lays 40 ms of training audio, a frame of that code (among
/// the code's frames nearest its centroid), chosen so the two 60 ms linguistic frames each 120 ms group makes lie
/// nearest the group's linguistic codes. Features do not overlap (a frame's window is its hop) and a group spans
/// whole frames of both rates, so a decoded group tokenized again gives its semantic tokens back exactly.
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
            int[] semantic = [tokens[g + 2] - LinguisticSize, tokens[g + 3] - LinguisticSize, tokens[g + 4] - LinguisticSize];
            // The first linguistic frame is the first semantic frame and half the second; the second, the other half and the third.
            var (first, second) = Choose(snippets[semantic[0]], snippets[semantic[1]], tokens[g], (a, b) => [.. a, .. b[..(b.Length / 2)]]);
            var (_, third) = Choose([second], snippets[semantic[2]], tokens[g + 1], (b, c) => [.. b[(b.Length / 2)..], .. c]);
            samples.AddRange(first);
            samples.AddRange(second);
            samples.AddRange(third);
        }
        return new AudioClip([.. samples], AudioClip.Rate);
    }

    /// <summary>The pair of candidates whose 60 ms <paramref name="join"/> lies nearest linguistic code <paramref name="linguistic"/>'s centroid.</summary>
    private (float[] Left, float[] Right) Choose(float[][] lefts, float[][] rights, int linguistic, Func<float[], float[], float[]> join)
    {
        var pairs = lefts.SelectMany(l => rights.Select(r => (Left: l, Right: r))).ToArray();
        var frames = LogMel.Frames(new AudioClip([.. pairs.SelectMany(p => join(p.Left, p.Right))], AudioClip.Rate), LinguisticHop);
        var centroid = Linguistic.Centroids[linguistic];
        var best = Enumerable.Range(0, pairs.Length).MinBy(k => frames[k].Zip(centroid, (a, b) => (a - b) * (a - b)).Sum());
        return pairs[best];
    }

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
