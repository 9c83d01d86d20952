// swift-tools-version: 6.1
import PackageDescription

/// Swift's strict memory safety checking (Swift 6.2 and later) for the modules that use no unsafe
/// construct at all: any that creeps in is then a diagnostic, and CI fails on warnings in our code.
let strictMemorySafety: [SwiftSetting] = {
    #if compiler(>=6.2)
    return [.unsafeFlags(["-strict-memory-safety"])]
    #else
    return []
    #endif
}()

let package = Package(
    name: "Nimbus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nimbus", targets: ["nimbus"]),
        .library(name: "NimbusWire", targets: ["NimbusWire"]),
        .library(name: "NimbusDataplane", targets: ["NimbusDataplane"]),
        .library(name: "NimbusTopology", targets: ["NimbusTopology"]),
        .library(name: "NimbusReplay", targets: ["NimbusReplay"]),
        .library(name: "NimbusExplain", targets: ["NimbusExplain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", .upToNextMinor(from: "0.2.0")),
        // 2.4.1: MetricNameDescriptor(unitName:helpText:) and make*(descriptor:labels:), which NimbusLive uses.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libpcap, found through pkg-config (Debian: libpcap-dev).
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // libnl-3 / libnl-route-3 and the Linux headers live mode needs (Debian: libnl-3-dev, libnl-route-3-dev).
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
        ),
        // Compiler builtins for the hot path (prefetch), as inline C.
        .target(name: "CNimbusShims"),
        // Typed, zero-copy views over packet bytes; addresses; checksums. No dependencies.
        .target(name: "NimbusWire"),
        // Reading captures through libpcap; writing pcap and pcapng.
        .target(name: "NimbusPcap", dependencies: ["CPcap", "NimbusWire"]),
        // Packet batches, the stage pipeline, flow tables, stages, counters, clock and timers.
        .target(name: "NimbusDataplane", dependencies: ["NimbusWire", "NimbusVPN", "CNimbusShims"]),
        // YAML topology files -> validated model -> compiled dataplane configuration.
        .target(
            name: "NimbusTopology",
            dependencies: ["NimbusWire", "NimbusDataplane", "NimbusVPN", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictMemorySafety
        ),
        // nimbus draw: a validated topology -> Graphviz DOT text (pure; running Graphviz is the CLI's).
        .target(name: "NimbusDraw", dependencies: ["NimbusTopology", "NimbusWire"], swiftSettings: strictMemorySafety),
        // The WireGuard protocol: Noise_IKpsk2 handshake, BLAKE2s, transport, replay window, cookies, timers.
        .target(name: "NimbusVPN", dependencies: ["NimbusWire", .product(name: "Crypto", package: "swift-crypto")]),
        // The replay harness: captures in, dataplane, port captures + drops + report out. It takes a compiled
        // DataplaneConfig, never a topology file.
        .target(name: "NimbusReplay", dependencies: ["NimbusWire", "NimbusPcap", "NimbusDataplane", "NimbusVPN"]),
        // nimbus reach: the first packet of a flow and its reply through a real dataplane, traced and
        // explained (the trace's words come from NimbusReplay's TraceFormatter).
        .target(name: "NimbusExplain", dependencies: ["NimbusWire", "NimbusDataplane", "NimbusReplay"]),
        // nimbus bench: synthetic traffic in memory through the dataplane, timed; share-nothing workers.
        .target(
            name: "NimbusBench",
            dependencies: ["NimbusWire", "NimbusDataplane", "NimbusVPN", .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        // nimbus up: namespaces and veths through netlink, AF_PACKET rings, the dataplane on real links.
        .target(
            name: "NimbusLive",
            dependencies: ["CNetlink", "NimbusWire", "NimbusDataplane", "NimbusPcap",
                           .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // The command-line tool: argument parsing and output only.
        .executableTarget(
            name: "nimbus",
            dependencies: [
                "NimbusWire", "NimbusTopology", "NimbusDraw", "NimbusReplay", "NimbusDataplane", "NimbusBench", "NimbusLive",
                "NimbusExplain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NimbusWireTests", dependencies: ["NimbusWire"]),
        .testTarget(name: "NimbusPcapTests", dependencies: ["NimbusPcap", "NimbusWire"]),
        .testTarget(
            name: "NimbusDataplaneTests",
            dependencies: ["NimbusDataplane", "NimbusWire", "NimbusVPN", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "NimbusTopologyTests", dependencies: ["NimbusTopology", "NimbusWire"]),
        .testTarget(name: "NimbusDrawTests", dependencies: ["NimbusDraw", "NimbusTopology", "NimbusWire"]),
        .testTarget(name: "NimbusVPNTests", dependencies: ["NimbusVPN", "NimbusWire", .product(name: "Crypto", package: "swift-crypto")]),
        // Helpers the end-to-end test targets share: repository paths, captures in and out, running a program.
        .target(name: "NimbusTestSupport", dependencies: ["NimbusPcap", "NimbusWire"], path: "Tests/NimbusTestSupport"),
        // End to end, by what they test: replays (goldens, corpus, hostile traffic, --map, reset), the command
        // line, nimbus bench, and live mode on namespaces (root).
        .testTarget(
            name: "NimbusReplayTests",
            dependencies: [
                "NimbusTestSupport", "NimbusReplay", "NimbusPcap", "NimbusTopology", "NimbusDataplane", "NimbusWire", "NimbusVPN",
                "NimbusExplain", "nimbus",
            ],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "NimbusCLITests",
            dependencies: ["NimbusTestSupport", "NimbusReplay", "NimbusPcap", "NimbusTopology", "NimbusWire", "nimbus"]
        ),
        .testTarget(
            name: "NimbusBenchTests",
            dependencies: ["NimbusTestSupport", "NimbusBench", "NimbusTopology", "NimbusDataplane", "NimbusWire", "NimbusVPN", "nimbus"]
        ),
        .testTarget(
            name: "NimbusLiveTests",
            dependencies: ["NimbusTestSupport", "NimbusReplay", "NimbusPcap", "NimbusTopology", "NimbusDataplane", "NimbusWire", "nimbus"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
