/// Seeds are derived, never drawn: every seed is a pure function of the pipeline seed and a path of labels.
public enum Seeds {
    /// A seed below 2^53 (so it survives any JSON parser) from the pipeline seed and a path such as
    /// `("train", round, index)`. Consecutive indices give unrelated seeds, far apart.
    public static func derive(_ base: UInt64, _ path: String...) -> UInt64 {
        var state = mix(base ^ 0x9E37_79B9_7F4A_7C15)
        for component in path {
            for byte in component.utf8 {
                state = mix(state ^ UInt64(byte))
            }
            state = mix(state ^ 0xFF)
        }
        return state & ((1 << 53) - 1)
    }

    /// SplitMix64's finaliser.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
