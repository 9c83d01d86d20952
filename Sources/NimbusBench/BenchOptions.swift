import NimbusDataplane
import NimbusWire

/// What `nimbus bench` pushes through the dataplane.
public enum BenchScenario: String, Sendable, CaseIterable {
    /// Routing only: the topology with its security groups, connection tracking and network ACLs taken
    /// out. The baseline every other scenario is compared with.
    case route
    /// The topology as written: network ACLs, stateful security groups and connection tracking.
    case sg
    /// Private instances out to internet servers through the NAT gateway (source translation), the
    /// replies back to the public address and port it chose; the topology's security groups stay on.
    case nat
    /// Internet clients to a load balancer's VIP, replies from the target each flow landed on.
    case lb
    /// An instance's packets sealed into a WireGuard tunnel, the peer's opened (see `VPNBench`).
    case vpn
    /// `lb` and `nat` flows interleaved in the same batches, through one dataplane.
    case mixed

    /// The scenarios this build can run; the others name stages that have not landed yet.
    public static let available: [BenchScenario] = [.route, .sg, .nat, .lb, .vpn, .mixed]
    public var isAvailable: Bool { Self.available.contains(self) }

    /// The kinds of flows the scenario sends, interleaved flow by flow (see `TrafficPlan.make`).
    var kinds: [FlowKind] {
        switch self {
        case .route, .sg: [.direct]
        case .nat: [.nat]
        case .lb: [.lb]
        case .mixed: [.lb, .nat]
        case .vpn: []      // VPNBench builds its own traffic
        }
    }
}

/// The knobs of one `nimbus bench` run. See `docs/performance.md` for what each figure means.
public struct BenchOptions: Sendable {
    public var scenario: BenchScenario = .sg
    /// Established flows, over all workers.
    public var flows = 10_000
    /// Packets per timed repetition, over all workers; nil: as many as fill `minimumSeconds`.
    public var packets: Int?
    /// Ethernet frame size on the wire, FCS included (the RFC 2544 convention): the dataplane sees
    /// `size - 4` bytes.
    public var size = 64
    /// Share-nothing workers, one thread and one dataplane each.
    public var threads = 1
    /// Timed repetitions per phase; the median is reported.
    public var repetitions = 5
    /// Each repetition runs at least this long (unless `packets` is given).
    public var minimumSeconds = 0.5
    /// Synthetic ingress rules added to the receiving instance's groups (none matches the traffic), to
    /// see what the rule count costs a first packet.
    public var extraRules = 0
    /// New flows each fresh dataplane takes in one new-flows run (over all workers) when `packets` is nil.
    public var newFlowsPerRun = 1 << 18

    public init() {}

    /// The frame sizes accepted: minimum Ethernet frame to a standard 1500-byte-MTU frame, FCS included.
    public static let sizes = 64...1518
    public static let maximumThreads = 64
    /// Frame memory a run may build (all workers): flows x 2 directions x frame size.
    public static let maximumFrameBytes = 6 << 30

    /// Bytes the dataplane sees per frame: the on-wire size without the 4-byte FCS.
    public var frameLength: Int { size - 4 }
    /// Bytes a frame occupies on the wire: the frame with FCS, plus 8 bytes of preamble and SFD and the
    /// 12-byte inter-frame gap.
    public var wireBytes: Int { size + 20 }

    /// A one-line complaint about the options, or nil when they are fine.
    public func problem() -> String? {
        if !scenario.isAvailable {
            return "scenario \(scenario.rawValue) is not available yet (available: "
                + BenchScenario.available.map(\.rawValue).joined(separator: ", ") + ")"
        }
        if flows < 1 { return "--flows \(flows): must be 1 or more" }
        if let p = packets, p < 1 { return "--packets \(p): must be 1 or more" }
        if !Self.sizes.contains(size) {
            return "--size \(size): must be \(Self.sizes.lowerBound) to \(Self.sizes.upperBound) bytes (Ethernet frame with FCS)"
        }
        if threads < 1 || threads > Self.maximumThreads {
            return "--threads \(threads): must be 1 to \(Self.maximumThreads)"
        }
        if flows < threads { return "--flows \(flows): need at least one flow per thread (--threads \(threads))" }
        if extraRules < 0 || extraRules > 1_000_000 { return "--extra-rules \(extraRules): must be 0 to 1000000" }
        if repetitions < 1 { return "--repetitions \(repetitions): must be 1 or more" }
        if flows.multipliedReportingOverflow(by: 2 * frameLength).overflow
            || flows * 2 * frameLength > Self.maximumFrameBytes {
            return "--flows \(flows) at --size \(size) needs \(flows * 2 * frameLength >> 20) MiB of frames; "
                + "the limit is \(Self.maximumFrameBytes >> 20) MiB"
        }
        return nil
    }
}

/// A bench failure: `badInput` when the topology or the options cannot give the traffic asked for.
public struct BenchError: Error, Sendable {
    public var message: String
    public var badInput: Bool
    public init(_ message: String, badInput: Bool) {
        self.message = message
        self.badInput = badInput
    }
}

extension DataplaneConfig {
    /// The configuration a scenario runs: `route` takes out security groups, connection tracking and
    /// network ACLs; `sg` keeps the topology's.
    func forScenario(_ scenario: BenchScenario) -> DataplaneConfig {
        var c = self
        if scenario == .route {
            c.firewall = nil
            c.networkACLs = []
            for i in c.subnets.indices { c.subnets[i].networkACL = nil }
        }
        return c
    }

    /// The same configuration with a flow table of `flows` entries.
    func withFlowCapacity(_ flows: Int) -> DataplaneConfig {
        var c = self
        c.firewall?.maxFlows = max(1, flows)
        return c
    }
}
