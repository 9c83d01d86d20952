// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Nimbus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nimbus", targets: ["nimbus"]),
        .library(name: "NimbusWire", targets: ["NimbusWire"]),
        .library(name: "NimbusDataplane", targets: ["NimbusDataplane"]),
        .library(name: "NimbusTopology", targets: ["NimbusTopology"]),
        .library(name: "NimbusReplay", targets: ["NimbusReplay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
    ],
    targets: [
        // libpcap, found through pkg-config (Debian: libpcap-dev).
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // Typed, zero-copy views over packet bytes; addresses; checksums. No dependencies.
        .target(name: "NimbusWire"),
        // Reading captures through libpcap; writing pcap and pcapng.
        .target(name: "NimbusPcap", dependencies: ["CPcap", "NimbusWire"]),
        // Packet batches, the stage pipeline, flow tables, stages, counters, clock and timers.
        .target(name: "NimbusDataplane", dependencies: ["NimbusWire"]),
        // YAML topology files -> validated model -> compiled dataplane configuration.
        .target(
            name: "NimbusTopology",
            dependencies: ["NimbusWire", "NimbusDataplane", .product(name: "Yams", package: "Yams")]
        ),
        // The replay harness: captures in, dataplane, port captures + drops + report out.
        .target(name: "NimbusReplay", dependencies: ["NimbusWire", "NimbusPcap", "NimbusDataplane", "NimbusTopology"]),
        // The command-line tool: argument parsing and output only.
        .executableTarget(
            name: "nimbus",
            dependencies: [
                "NimbusTopology", "NimbusReplay", "NimbusDataplane",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NimbusWireTests", dependencies: ["NimbusWire"]),
        .testTarget(name: "NimbusPcapTests", dependencies: ["NimbusPcap", "NimbusWire"]),
        .testTarget(
            name: "NimbusDataplaneTests",
            dependencies: ["NimbusDataplane", "NimbusWire", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "NimbusTopologyTests", dependencies: ["NimbusTopology", "NimbusWire"]),
        .testTarget(
            name: "NimbusReplayTests",
            dependencies: ["NimbusReplay", "NimbusPcap", "NimbusTopology", "NimbusDataplane", "NimbusWire", "nimbus"],
            resources: [.copy("Golden")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
