import Foundation
import NimbusDataplane

/// The schema of `nimbus bench --json` (`BenchResult.document`). SPEC.md fixes `scenario`, `threads`,
/// `size`, `flows`, and `established` and `new-flows` each with `mpps`, `gbps` and `ns-per-packet`; the
/// other keys are ours. Written on one line, keys sorted. Figures are rounded: Mpps, Gbit/s, seconds and
/// allocations to four decimals, ns per packet to two, bytes per flow and dispatch ns to one.
public struct BenchJSON: Codable, Equatable, Sendable {
    public struct Phase: Codable, Equatable, Sendable {
        public struct Latency: Codable, Equatable, Sendable {
            public var p50: UInt64
            public var p99: UInt64
            public var p999: UInt64
            public var max: UInt64
        }

        /// Million packets per second, all workers: the median repetition.
        public var mpps: Double
        /// On the wire (`gbps-basis`).
        public var gbps: Double
        /// Per worker (`ns-per-packet-basis`).
        public var nsPerPacket: Double
        /// `null` where allocations cannot be counted.
        @ExplicitNull public var allocationsPerPacket: Double?
        public var repetitionsMpps: [Double]
        public var packetsPerRepetition: Int
        public var seconds: Double
        /// Per 256-packet batch, nanoseconds.
        public var batchLatencyNs: Latency
        /// `new-flows` only.
        public var flowsPerRun: Int?
        /// `new-flows` only.
        public var runsPerRepetition: Int?

        enum CodingKeys: String, CodingKey {
            case mpps, gbps, nsPerPacket = "ns-per-packet", allocationsPerPacket = "allocations-per-packet"
            case repetitionsMpps = "repetitions-mpps", packetsPerRepetition = "packets-per-repetition", seconds
            case batchLatencyNs = "batch-latency-ns", flowsPerRun = "flows-per-run", runsPerRepetition = "runs-per-repetition"
        }
    }

    /// Who talks to whom.
    public struct Traffic: Codable, Equatable, Sendable {
        /// `direct`, `nat` or `lb`.
        public var kind: String
        public var from: String
        public var sources: String
        public var to: String
        public var address: String
        public var `protocol`: String
        public var port: UInt16
        @ExplicitNull public var via: String?
        public var clientEndpoints: Int
        public var destinations: Int
        enum CodingKeys: String, CodingKey {
            case kind, from, sources, to, address, `protocol`, port, via, clientEndpoints = "client-endpoints", destinations
        }
    }

    public struct EgressRules: Codable, Equatable, Sendable {
        public var on: String
        /// `null`: all egress allowed, no rules.
        @ExplicitNull public var count: Int?
    }

    /// What the established flows hold.
    public struct State: Codable, Equatable, Sendable {
        public var trackedFlows: Int
        public var natMappings: Int
        public var lbFlows: Int
        /// Load-balanced flows by target instance.
        public var lbTargets: [String: Int]
        enum CodingKeys: String, CodingKey {
            case trackedFlows = "tracked-flows", natMappings = "nat-mappings", lbFlows = "lb-flows", lbTargets = "lb-targets"
        }
    }

    public struct Memory: Codable, Equatable, Sendable {
        public var bytesPerFlow: Double
        public var residentDeltaBytes: Int
        public var method: String
        enum CodingKeys: String, CodingKey {
            case bytesPerFlow = "bytes-per-flow", residentDeltaBytes = "resident-delta-bytes", method
        }
    }

    public struct Dispatch: Codable, Equatable, Sendable {
        public var flowsPerWorker: [Int]
        public var nsPerPacket: Double
        enum CodingKeys: String, CodingKey { case flowsPerWorker = "flows-per-worker", nsPerPacket = "ns-per-packet" }
    }

    public var scenario: String
    public var threads: Int
    public var size: Int
    public var flows: Int
    public var established: Phase
    public var newFlows: Phase
    public var topology: String
    /// The first kind of traffic (`traffic-mix[0]`).
    public var traffic: Traffic
    public var trafficMix: [Traffic]
    public var securityGroups: Bool
    public var ingressRules: Int
    @ExplicitNull public var ingressRulesOn: String?
    /// Of the first NAT sender; `null` without NAT traffic.
    @ExplicitNull public var egressRules: EgressRules?
    public var extraRules: Int
    public var state: State
    public var allocationsMethod: String
    public var optimized: Bool
    public var memory: Memory
    public var repetitions: Int
    public var frameBytes: Int
    public var wireBytesPerPacket: Int
    public var gbpsBasis: String
    public var nsPerPacketBasis: String
    public var cpus: Int
    public var cpuModel: String
    public var dispatch: Dispatch

    enum CodingKeys: String, CodingKey {
        case scenario, threads, size, flows, established, newFlows = "new-flows", topology, traffic
        case trafficMix = "traffic-mix", securityGroups = "security-groups", ingressRules = "ingress-rules"
        case ingressRulesOn = "ingress-rules-on", egressRules = "egress-rules", extraRules = "extra-rules", state
        case allocationsMethod = "allocations-method", optimized, memory, repetitions, frameBytes = "frame-bytes"
        case wireBytesPerPacket = "wire-bytes-per-packet", gbpsBasis = "gbps-basis"
        case nsPerPacketBasis = "ns-per-packet-basis", cpus, cpuModel = "cpu-model", dispatch
    }
}

/// The schema of `nimbus bench --scenario vpn --json` (`VPNBench.Result.document`): the SPEC keys, with
/// `established` and `new-flows` both the seal phase (the tunnel keeps no per-flow state), then the open
/// phase and swift-crypto alone. Mpps and Gbit/s to four decimals, ns per packet to two, ratios and
/// allocations to three.
public struct VPNBenchJSON: Codable, Equatable, Sendable {
    public struct Figure: Codable, Equatable, Sendable {
        public var mpps: Double
        /// Inner packets (`gbps-basis`).
        public var gbps: Double
        public var nsPerPacket: Double
        public var repetitionsMpps: [Double]
        enum CodingKeys: String, CodingKey {
            case mpps, gbps, nsPerPacket = "ns-per-packet", repetitionsMpps = "repetitions-mpps"
        }
    }

    public struct Allocations: Codable, Equatable, Sendable {
        @ExplicitNull public var seal: Double?
        @ExplicitNull public var open: Double?
    }

    public var scenario: String
    public var threads: Int
    public var size: Int
    public var flows: Int
    public var established: Figure
    public var newFlows: Figure
    public var open: Figure
    public var rawSeal: Figure
    public var rawOpen: Figure
    public var sealVsRaw: Double
    public var openVsRaw: Double
    public var allocationsPerPacket: Allocations
    public var innerBytes: Int
    public var topology: String
    public var tunnel: String
    public var gbpsBasis: String
    public var newFlowsBasis: String
    public var cpuModel: String

    enum CodingKeys: String, CodingKey {
        case scenario, threads, size, flows, established, newFlows = "new-flows", open, rawSeal = "raw-seal"
        case rawOpen = "raw-open", sealVsRaw = "seal-vs-raw", openVsRaw = "open-vs-raw"
        case allocationsPerPacket = "allocations-per-packet", innerBytes = "inner-bytes", topology, tunnel
        case gbpsBasis = "gbps-basis", newFlowsBasis = "new-flows-basis", cpuModel = "cpu-model"
    }
}

/// `value` on one line, keys sorted, then a newline: what `--json` prints.
func jsonLine<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do { return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n" }
    catch { preconditionFailure("encoding \(T.self) as JSON: \(error)") }
}

/// `v` rounded to `digits` decimals: the `Double` nearest that decimal, so JSONEncoder writes it as that
/// decimal. Never a non-finite number (those become 0), which JSONEncoder would refuse.
func decimalRounded(_ v: Double, _ digits: Int) -> Double {
    Double(fixed(v, digits)) ?? 0
}
