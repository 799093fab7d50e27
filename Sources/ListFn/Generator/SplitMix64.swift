/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, fully deterministic generator. Used for everything
/// random in ListFn so that a seed alone fixes a task, never the clock or the system generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n` (n > 0), by rejection so that every value is equally likely.
    public mutating func below(_ n: Int) -> Int {
        // Written out rather than the standard library's next(upperBound:), whose algorithm may change.
        let bound = UInt64(n)
        let threshold = (0 &- bound) % bound
        while true {
            let r = next()
            if r >= threshold { return Int(r % bound) }
        }
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Mixes several integers into one well-spread seed, e.g. (pipeline seed, round, index).
    public static func mix(_ parts: UInt64...) -> UInt64 {
        var g = SplitMix64(seed: 0x5EED_0F11_57F0_0D5)
        var h: UInt64 = 0
        for p in parts {
            g = SplitMix64(seed: g.next() ^ p)
            h = g.next()
        }
        return h
    }
}
