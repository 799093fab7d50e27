import FlywheelCore
import Testing

@Suite struct SeedsTests {
    @Test func seedsAreDerivedStableAndJSONSafe() {
        #expect(Seeds.derive(7, "train", "1", "2") == Seeds.derive(7, "train", "1", "2"))
        let seeds = Set((0..<1000).map { Seeds.derive(7, "train", "1", "\($0)") })
        #expect(seeds.count == 1000)
        #expect(seeds.allSatisfy { $0 < 1 << 53 })
        #expect(Seeds.derive(7, "train", "1", "2") != Seeds.derive(8, "train", "1", "2"))
        #expect(Seeds.derive(7, "train", "12") != Seeds.derive(7, "train1", "2"))
        // Consecutive indices are far apart (reasoning-gym's item i of seed s is item i-1 of seed s+1).
        let a = Seeds.derive(7, "train", "1", "0")
        let b = Seeds.derive(7, "train", "1", "1")
        #expect((a > b ? a - b : b - a) > 1_000_000)
    }
}
