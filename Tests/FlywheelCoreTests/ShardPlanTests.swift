import FlywheelCore
import Testing

@Suite struct ShardPlanTests {
    @Test func shardsSplitItemsRoundRobinWithoutOverlap() throws {
        let shards = try (0..<7).map { try Shard(index: $0, count: 7) }
        for item in 0..<100 {
            #expect(shards.count { $0.owns(item) } == 1, "item \(item)")
        }
        #expect(throws: FlywheelError.self) { try Shard(index: 3, count: 3) }
        #expect(throws: FlywheelError.self) { try Shard(index: 0, count: 0) }
    }

    @Test func missingShardsAsSlurmArrayExpressions() {
        #expect(Shard.arrayExpression([2, 7]) == "2,7")
        #expect(Shard.arrayExpression([0, 1, 2, 3]) == "0-3")
        #expect(Shard.arrayExpression([7, 0, 1, 2, 3, 5, 6, 9]) == "0-3,5-7,9")
        #expect(Shard.arrayExpression([1, 2, 5]) == "1,2,5")
        #expect(Shard.arrayExpression([4]) == "4")
        #expect(Shard.arrayExpression([]) == "")
    }

    @Test func parsesExplicitAndAutomaticShards() throws {
        #expect(try Shard.parse("2/8", count: nil, environment: [:]) == Shard(index: 2, count: 8))
        #expect(try Shard.parse("2/8", count: 8, environment: [:]) == Shard(index: 2, count: 8))
        #expect(throws: FlywheelError.self) { try Shard.parse("2/8", count: 4, environment: [:]) }
        #expect(throws: FlywheelError.self) { try Shard.parse("two/8", count: nil, environment: [:]) }
        #expect(throws: FlywheelError.self) { try Shard.parse("8/8", count: nil, environment: [:]) }

        let slurm = ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]
        #expect(try Shard.parse("auto", count: nil, environment: slurm) == Shard(index: 3, count: 4))
        // A resubmitted array's task count is not the plan's: the explicit count wins.
        #expect(try Shard.parse("auto", count: 16, environment: slurm) == Shard(index: 3, count: 16))
        #expect(
            try Shard.parse("auto", count: nil, environment: slurm.merging(["FLYWHEEL_SHARDS": "16"]) { $1 })
                == Shard(index: 3, count: 16))

        let kubernetes = ["JOB_COMPLETION_INDEX": "5", "FLYWHEEL_SHARDS": "6"]
        #expect(try Shard.parse("auto", count: nil, environment: kubernetes) == Shard(index: 5, count: 6))
        #expect(throws: FlywheelError.self) {
            try Shard.parse("auto", count: nil, environment: ["JOB_COMPLETION_INDEX": "5"])
        }
        #expect(throws: FlywheelError.self) { try Shard.parse("auto", count: 4, environment: [:]) }
        #expect(throws: FlywheelError.self) {
            try Shard.parse("auto", count: 4, environment: ["SLURM_ARRAY_TASK_ID": "x"])
        }
    }
}
