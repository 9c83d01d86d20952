// swift-tools-version: 6.1
// libFuzzer targets for Nimbus. A separate package so the main Package.swift stays free of sanitizer
// flags; it depends on the parent package by path. Build and run through `scripts/fuzz`:
//
//   swift build -c release --package-path Fuzz --scratch-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product fuzz-wire
//
// The parent's package identity is its directory's name (a path dependency), which is not fixed (a
// clone may be called anything), so it is computed here.
import PackageDescription
import Foundation

let parentDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let parent = parentDirectory.lastPathComponent.lowercased()

let package = Package(
    name: "NimbusFuzz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fuzz-wire", targets: ["FuzzWire"]),
        .executable(name: "fuzz-pipeline", targets: ["FuzzPipeline"]),
        .executable(name: "fuzz-capture", targets: ["FuzzCapture"]),
        .executable(name: "fuzz-topology", targets: ["FuzzTopology"]),
    ],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        .executableTarget(name: "FuzzWire", dependencies: [
            "FuzzSupport", .product(name: "NimbusWire", package: parent),
        ]),
        .executableTarget(name: "FuzzPipeline", dependencies: [
            "FuzzSupport",
            .product(name: "NimbusWire", package: parent),
            .product(name: "NimbusDataplane", package: parent),
            .product(name: "NimbusTopology", package: parent),
        ]),
        .executableTarget(name: "FuzzCapture", dependencies: [
            "FuzzSupport", .product(name: "NimbusReplay", package: parent),
        ]),
        .executableTarget(name: "FuzzTopology", dependencies: [
            "FuzzSupport",
            .product(name: "NimbusTopology", package: parent),
            .product(name: "NimbusDataplane", package: parent),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
