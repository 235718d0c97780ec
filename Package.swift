// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-sweep",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sweep", targets: ["sweep"]),
        .library(name: "Vocabulary", targets: ["Vocabulary"]),
        .library(name: "Protocol", targets: ["Protocol"]),
        .library(name: "ML", targets: ["ML"]),
        .library(name: "Programs", targets: ["Programs"]),
        .library(name: "SweepCore", targets: ["SweepCore"]),
        .library(name: "Coordinator", targets: ["Coordinator"]),
        .library(name: "Worker", targets: ["Worker"]),
        .library(name: "LocalRun", targets: ["LocalRun"]),
        .library(name: "Dashboard", targets: ["Dashboard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The dashboard's HTTP server: SwiftNIO's HTTP/1 parser, linear in the request and with
        // configurable size limits (FlyingFox's parser took quadratic time in a long request line).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own dependencies, named for the types the dashboard uses from them.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The worker simulator's timer heap.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // System libraries, installed by the Makefile with apt-get.
        .systemLibrary(
            name: "CZMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // The vocabulary every module shares: the trial config and its canonical JSON, the trial
        // file, one epoch record and one trial result, trial states and outcomes, file digests.
        .target(
            name: "Vocabulary",
            dependencies: [.product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Wire messages, their codec and the thin layer over libzmq.
        .target(
            name: "Protocol",
            dependencies: [
                "Vocabulary", "CZMQ",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The trainer and its parts: dataset IO, model, losses, balancers, optimiser, metrics.
        .target(
            name: "ML",
            dependencies: ["Vocabulary", "COpenBLAS", .product(name: "Yams", package: "Yams")],
            // Lets sqrt lower to one vector instruction instead of a call that may set errno,
            // so the optimiser's loops vectorise.
            swiftSettings: [.unsafeFlags(["-Xcc", "-fno-math-errno"])]
        ),
        // posix_spawn's chdir action, for starting program trials in their own folder.
        .target(name: "CSpawn"),
        // Program trials: a program folder's fingerprint, running one attempt, its capped logs.
        .target(name: "Programs", dependencies: ["Vocabulary", "CSpawn", .product(name: "Crypto", package: "swift-crypto")]),
        // Sweep files, early stopping, the ask/tell controller, the store and its readers,
        // leaderboard, export, status: plain code, testable without sockets.
        .target(
            name: "SweepCore",
            dependencies: [
                "Vocabulary", "ML", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The ZeroMQ server over SweepCore: leases, admission, authentication.
        .target(name: "Coordinator", dependencies: ["Vocabulary", "Protocol", "Programs", "SweepCore"]),
        // A worker: trials from a coordinator, trained here or run as programs.
        .target(
            name: "Worker",
            dependencies: ["Vocabulary", "Protocol", "ML", "Programs", .product(name: "HeapModule", package: "swift-collections")]),
        // Beside the worker: trials run in this process (`sweep run`) through the same controller.
        .target(name: "LocalRun", dependencies: ["Vocabulary", "ML", "Programs", "SweepCore"]),
        // The read-only web dashboard over SweepCore's readers.
        .target(
            name: "Dashboard",
            dependencies: [
                "Vocabulary", "SweepCore", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "sweep",
            dependencies: [
                "Vocabulary", "Protocol", "ML", "Programs", "SweepCore", "Coordinator", "Worker", "LocalRun", "Dashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sweep-bench-training", dependencies: ["ML", "Vocabulary"], path: "Benchmarks/TrainingBenchmark"),
        .executableTarget(name: "sweep-bench-tpe", dependencies: ["ML", "Vocabulary", "SweepCore"], path: "Benchmarks/TPEBenchmark"),
        // The decoder fuzz target (make fuzz; a short run in make test).
        .executableTarget(name: "sweep-fuzz-decoder", dependencies: ["Protocol", "Vocabulary"], path: "Tests/Fuzz"),
        // A second process for the two-process ZeroMQ tests.
        .executableTarget(name: "sweep-test-peer", dependencies: ["Protocol"], path: "Tests/TestPeer"),
        // Helpers the test targets share (their temporary folders).
        .target(name: "TestSupport", path: "Tests/TestSupport"),

        .testTarget(name: "VocabularyTests", dependencies: ["Vocabulary"]),
        .testTarget(name: "ProtocolTests", dependencies: ["Protocol", "Vocabulary"]),
        .testTarget(name: "MLTests", dependencies: ["ML", "Vocabulary", "TestSupport"]),
        .testTarget(name: "ProgramsTests", dependencies: ["Programs", "Vocabulary", "TestSupport"]),
        // The Python scripts run Optuna's pruner and Parzen estimator for the side-by-side tests.
        .testTarget(
            name: "SweepCoreTests", dependencies: ["SweepCore", "Vocabulary", "TestSupport", .product(name: "Yams", package: "Yams")],
            exclude: ["optuna_asha.py", "optuna_parzen.py", "optuna_ped_anova.py", "Fixtures"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "Protocol", "SweepCore", "Vocabulary", "TestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Protocol", "Vocabulary", "ML", "TestSupport"]),
        .testTarget(name: "DashboardTests", dependencies: ["Dashboard", "SweepCore", "LocalRun", "ML", "Vocabulary", "TestSupport"]),
        // prior_reference.py: a NumPy reference of the prior alone, run side by side on ReDial.
        .testTarget(
            name: "IntegrationTests", dependencies: ["Vocabulary", "Protocol", "ML", "Programs", "SweepCore", "TestSupport"],
            exclude: ["prior_reference.py"]),
    ],
    swiftLanguageModes: [.v6]
)
