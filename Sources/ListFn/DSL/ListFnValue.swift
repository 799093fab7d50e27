/// The output of a program: an integer or a list of integers.
public enum ListFnValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case list([Int])

    /// The prompt spelling: `7` or `[1, 2, 3]`.
    public var description: String {
        var bytes: [UInt8] = []
        write(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Compact JSON: `7` or `[1,2,3]`.
    var json: String {
        var bytes: [UInt8] = []
        write(to: &bytes, separator: ",")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the spelling's UTF-8 to `bytes`, list items separated by `separator`.
    func write(to bytes: inout [UInt8], separator: StaticString = ", ") {
        switch self {
        case .int(let v): Self.write(v, to: &bytes)
        case .list(let l):
            bytes.append(UInt8(ascii: "["))
            for (index, v) in l.enumerated() {
                if index > 0 { separator.withUTF8Buffer { bytes.append(contentsOf: $0) } }
                Self.write(v, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        }
    }

    /// Appends the decimal digits of `value`, after a minus sign when it is negative.
    private static func write(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var unit: UInt = 1  // the place of the leading digit
        while unit <= magnitude / 10 { unit *= 10 }
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude / unit))
            magnitude %= unit
            unit /= 10
        } while unit > 0
    }
}

/// One input/output pair of a hidden program.
public struct ListFnExample: Sendable, Hashable {
    public var input: [Int]
    public var output: ListFnValue

    public init(input: [Int], output: ListFnValue) {
        self.input = input
        self.output = output
    }
}
