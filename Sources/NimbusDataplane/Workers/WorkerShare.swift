/// Which of a site's share-nothing workers a dataplane is, and how many there are.
///
/// Each worker owns its own flow tables, NAT mappings and counters; what it must not share is split by
/// this value: the NAT gateways' port ranges (each worker allocates from a share of its own, so a reply
/// finds its mapping's owner from the port alone, as in VPP's NAT44) and the flow-table capacity.
public struct WorkerShare: Sendable, Equatable {
    public let index: Int
    public let count: Int

    /// The only worker of a site.
    public static let single = WorkerShare(index: 0, count: 1)

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "worker \(index) of \(count)")
        self.index = index
        self.count = count
    }

    /// This worker's ports of a range of `size` ports starting at `lo`: every `count`-th port, starting
    /// `index` ports in (`first`, `first + stride`, ... : `ports` of them). Interleaved rather than
    /// contiguous so that the ports instances pick (and the NAT keeps when it can) spread evenly.
    public func ports(lo: Int, size: Int) -> (first: Int, stride: Int, ports: Int) {
        (lo + index, count, size > index ? (size - index + count - 1) / count : 0)
    }

    /// The worker whose ports of the range hold `port` (worker 0 for ports outside the range).
    @inline(__always)
    public static func owner(of port: Int, lo: Int, size: Int, count: Int) -> Int {
        guard port >= lo, port < lo + size else { return 0 }
        return (port - lo) % count
    }

    /// A share of `total` (flow-table entries, say): at least one.
    public func share(of total: Int) -> Int { max(1, total / count) }
}

extension DataplaneConfig {
    /// Why the site cannot run on `workers` workers (a NAT gateway with fewer ports than workers), or nil.
    public func problem(forWorkers workers: Int) -> String? {
        for gw in natGateways where Int(gw.ports.upperBound) - Int(gw.ports.lowerBound) + 1 < workers {
            let name = gw.network < networks.count ? networks[gw.network].name : "\(gw.network)"
            return "the NAT gateway of network '\(name)' has only \(Int(gw.ports.upperBound) - Int(gw.ports.lowerBound) + 1) ports to share among \(workers) workers"
        }
        return nil
    }
}
