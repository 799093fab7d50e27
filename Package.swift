// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Flywheel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flywheel", targets: ["flywheel"]),
        .library(name: "FlywheelCore", targets: ["FlywheelCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .systemLibrary(name: "CProcessShim", path: "Sources/CProcessShim"),
        .target(name: "Processes", dependencies: ["CProcessShim"]),
        .target(name: "ListFn"),
        .target(
            name: "FlywheelCore",
            dependencies: [
                "CZstd", "ListFn", "Processes",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            // The files `flywheel init` writes, compiled into the binary so a copied binary still has them.
            resources: [
                .embedInCode("Scaffold/Templates/pipeline.yaml"), .embedInCode("Scaffold/Templates/generate.py"),
                .embedInCode("Scaffold/Templates/solve.py"), .embedInCode("Scaffold/Templates/check.py"),
            ]
        ),
        .executableTarget(
            name: "flywheel",
            dependencies: ["FlywheelCore", "Processes", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "orchestration-floor", dependencies: ["FlywheelCore", "Processes"],
            path: "Benchmarks/OrchestrationFloor"),
        .executableTarget(name: "listfn-bench", dependencies: ["ListFn"], path: "Benchmarks/ListFnBench"),
        .executableTarget(
            name: "decontamination-bench", dependencies: ["FlywheelCore", "ListFn"],
            path: "Benchmarks/DecontaminationBench"),
        .testTarget(name: "ListFnTests", dependencies: ["ListFn", "Processes"]),
        .testTarget(
            name: "FlywheelCoreTests",
            dependencies: ["FlywheelCore", "ListFn", "Processes"]
        ),
        .testTarget(name: "ProcessesTests", dependencies: ["Processes"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["FlywheelCore", "Processes", .product(name: "Yams", package: "Yams")]),
    ]
)
