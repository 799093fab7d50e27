/// The type of a DSL expression. Lambdas are not first-class: they only appear as the function argument of
/// `map`, `filter` and `fold`, so a hole in a program always asks for one of these three.
public enum ListFnType: String, Sendable, Hashable, CaseIterable {
    case int
    case bool
    case list
}

/// The primitives of the DSL, as a fixed table.
///
/// Production ids are small integers so that the enumerator can hold programs as byte strings in prefix order.
/// Ids `0..<Primitive.count` are the named primitives (constants included), `Primitive.variableBase + k` is the
/// de Bruijn variable `$k` (any k), and `Primitive.literal` is an integer literal outside the grammar's constants (only
/// the parser produces it; its value follows it in the code).
enum Primitive {
    struct Info {
        var name: String
        var result: ListFnType
        /// Argument types; a lambda slot is listed with its body type.
        var arguments: [ListFnType]
        /// How many variables each argument slot binds (1 for map/filter bodies, 2 for the fold body).
        var binds: [Int]
    }

    static let input: Int32 = 0
    static let map: Int32 = 1
    static let filter: Int32 = 2
    static let reverse: Int32 = 3
    static let sort: Int32 = 4
    static let take: Int32 = 5
    static let drop: Int32 = 6
    static let head: Int32 = 7
    static let last: Int32 = 8
    static let length: Int32 = 9
    static let sum: Int32 = 10
    static let maximum: Int32 = 11
    static let minimum: Int32 = 12
    static let fold: Int32 = 13
    static let add: Int32 = 14
    static let subtract: Int32 = 15
    static let multiply: Int32 = 16
    static let modulo: Int32 = 17
    static let greater: Int32 = 18
    static let less: Int32 = 19
    static let equal: Int32 = 20
    /// Constants 0...5 are productions 21...26.
    static let constantBase: Int32 = 21
    static let constantCount: Int32 = 6
    /// Number of named productions (primitives and constants).
    static let count = 27
    /// The grammar's single weight shared by all variables, as in DreamCoder.
    static let variableWeightIndex = 27
    /// Number of weights per grammar context: the named productions plus the variable weight.
    static let weightCount = 28
    static let variableBase: Int32 = 32
    /// Deepest variable environment the grammar allows; the interpreters themselves have no such limit.
    static let maxDepth = 3
    static let literal: Int32 = .max

    static let table: [Info] = {
        var t: [Info] = []
        func add(_ name: String, _ result: ListFnType, _ args: [ListFnType] = [], binds: [Int]? = nil) {
            t.append(Info(name: name, result: result, arguments: args, binds: binds ?? args.map { _ in 0 }))
        }
        add("$in", .list)
        add("map", .list, [.int, .list], binds: [1, 0])
        add("filter", .list, [.bool, .list], binds: [1, 0])
        add("reverse", .list, [.list])
        add("sort", .list, [.list])
        add("take", .list, [.int, .list])
        add("drop", .list, [.int, .list])
        add("head", .int, [.list])
        add("last", .int, [.list])
        add("length", .int, [.list])
        add("sum", .int, [.list])
        add("max", .int, [.list])
        add("min", .int, [.list])
        add("fold", .int, [.int, .int, .list], binds: [2, 0, 0])
        add("+", .int, [.int, .int])
        add("-", .int, [.int, .int])
        add("*", .int, [.int, .int])
        add("mod", .int, [.int, .int])
        add(">", .bool, [.int, .int])
        add("<", .bool, [.int, .int])
        add("==", .bool, [.int, .int])
        for k in 0..<Int(constantCount) { add(String(k), .int) }
        precondition(t.count == count)
        return t
    }()

    static let byName: [String: Int32] = {
        var d: [String: Int32] = [:]
        for (i, info) in table.enumerated() { d[info.name] = Int32(i) }
        return d
    }()

    /// Arity of a production id (variables and literals have none).
    @inline(__always)
    static func arity(_ p: Int32) -> Int {
        // A switch rather than a table lookup: this is on the evaluator's hot path, and static tables cost a
        // lazy-initialisation check per access.
        switch p {
        case input: return 0
        case map, filter, take, drop: return 2
        case reverse, sort, head, last, length, sum, maximum, minimum: return 1
        case fold: return 3
        case add, subtract, multiply, modulo, greater, less, equal: return 2
        default: return 0
        }
    }

    static let arities: [Int] = table.map { $0.arguments.count }
    static let maxBinds: [Int] = table.map { $0.binds.max() ?? 0 }

    /// Grammar contexts: the root, then one per (primitive, argument slot).
    static let rootContext = 0
    static let contextOffsets: [Int] = {
        var offsets: [Int] = []
        var next = 1
        for info in table {
            offsets.append(next)
            next += info.arguments.count
        }
        return offsets
    }()
    static let contextCount: Int = 1 + table.reduce(0) { $0 + $1.arguments.count }

    @inline(__always)
    static func context(parent: Int32, slot: Int) -> Int { contextOffsets[Int(parent)] + slot }

    static let contextNames: [String] = {
        var names = ["root"]
        for info in table {
            for slot in info.arguments.indices { names.append("\(info.name)#\(slot)") }
        }
        return names
    }()

    /// Names of the weights within a context, in weight-index order.
    static let weightNames: [String] = table.map(\.name) + ["$var"]

    /// The concrete-syntax name of a production id (not for literals).
    static func name(_ p: Int32) -> String {
        p >= variableBase ? "$\(p - variableBase)" : table[Int(p)].name
    }
}
