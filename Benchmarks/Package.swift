// swift-tools-version: 6.1
// Nimbus's micro-benchmark suite (ordo-one/benchmark), kept out of the main package so that its
// dependencies never reach a normal build or `swift test`. Run from this directory:
//   swift package --scratch-path ../.build-benchpkg benchmark
//   swift package --scratch-path ../.build-benchpkg benchmark thresholds check   # fails on hot-path mallocs
import Foundation
import PackageDescription

// A path dependency is known by its directory's name, which is whatever the clone was called.
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "NimbusBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        // The malloc interposer gives the malloc counts the thresholds check; the runtime interposer
        // (another default trait) is not needed.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "NimbusBenchmarks",
            dependencies: [
                .product(name: "NimbusWire", package: parent),
                .product(name: "NimbusDataplane", package: parent),
                .product(name: "NimbusTopology", package: parent),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/NimbusBenchmarks",
            // Benchmark closures capture fixtures; the suite is single-threaded, so Swift 5 mode is enough.
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
