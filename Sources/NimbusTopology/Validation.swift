import NimbusWire

/// Checks that relate one part of a topology to another: unique names, references that resolve,
/// addresses where they belong. Each check skips values that were already invalid on their own.
struct Validator {
    let sink: DiagnosticSink
    let draft: TopologyDraft

    /// Ranges a nat-private network must lie in: RFC 1918 and RFC 6598 (shared address space).
    static let privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]
        .compactMap { IPv4CIDR($0) }

    func validate() {
        checkUnique(draft.networks.map(\.name), kind: "network")
        checkUnique(draft.groups.map(\.name), kind: "security group")
        checkUnique(draft.networkACLs.map(\.name), kind: "network ACL")
        checkUnique(draft.instances.map(\.name), kind: "instance")
        checkUnique(draft.loadBalancers.map(\.name), kind: "load balancer")
        checkUnique(draft.tunnels.map(\.name), kind: "vpn tunnel")
        checkUnique(draft.hosts.map(\.name), kind: "internet host")
        checkHostNames()
        checkNetworks()
        checkInstances()
        checkMACs()
        checkGroupReferences()
        checkNetworkACLs()
        checkLoadBalancers()
        checkTunnels()
        checkEvents()
        checkPublicAddresses()
    }

    /// Reports each repeated name at the repeat, naming where it was first used.
    func checkUnique(_ names: [Located<String>?], kind: String) {
        var seen: [String: Position] = [:]
        for case let name? in names {
            if let first = seen[name.value] {
                sink.error("duplicate \(kind) name \(q(name.value)) (first at \(first))", at: name.position)
            } else {
                seen[name.value] = name.position
            }
        }
    }

    /// `nimbus exec NAME` finds instances and internet hosts by name, so the two must not collide.
    func checkHostNames() {
        let instances = Set(draft.instances.compactMap(\.name?.value))
        for case let name? in draft.hosts.map(\.name) where instances.contains(name.value) {
            sink.error("internet host \(q(name.value)) has the same name as an instance", at: name.position)
        }
    }

    /// "; did you mean 'x'?" for a reference to something that does not exist.
    func unknown(_ kind: String, _ reference: Located<String>, among names: [String], scope: String = "") {
        sink.error(
            "unknown \(kind) \(q(reference.value))\(scope)\(didYouMean(reference.value, among: names))",
            at: reference.position)
    }

    func network(named name: String) -> NetworkDraft? {
        draft.networks.first { $0.name?.value == name }
    }

    func checkNetworks() {
        var earlier: [(name: String, cidr: IPv4CIDR)] = []
        for network in draft.networks {
            let label = network.name.map { "network \(q($0.value))" } ?? "network"
            if let cidr = network.cidr {
                switch network.mode {
                case .natPrivate where !Self.privateRanges.contains(where: { $0.covers(cidr.value) }):
                    sink.error(
                        "\(label) is nat-private but \(cidr.value) is not a private range "
                            + "(10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)", at: cidr.position)
                case .publicIP where Self.privateRanges.contains(where: { $0.overlaps(cidr.value) }):
                    sink.error("\(label) is public-ip but \(cidr.value) includes private addresses", at: cidr.position)
                default:
                    break
                }
                if let other = earlier.first(where: { $0.cidr.overlaps(cidr.value) }) {
                    sink.error(
                        "\(label) (\(cidr.value)) overlaps network \(q(other.name)) (\(other.cidr))", at: cidr.position)
                }
                earlier.append((network.name?.value ?? "?", cidr.value))
            }
            if network.mode == .publicIP, let nat = network.nat {
                sink.error("'nat' applies only to nat-private networks; \(label) is public-ip", at: nat.keyPosition)
            }
            checkUnique(network.subnets.map(\.name), kind: "subnet")
            checkSubnets(of: network, label: label)
            for ip in network.nat?.publicIPs ?? [] where ip.value.isPrivate {
                sink.error("NAT public IP \(ip.value) is a private address", at: ip.position)
            }
        }
    }

    func checkSubnets(of network: NetworkDraft, label: String) {
        var earlier: [(name: String, cidr: IPv4CIDR)] = []
        for subnet in network.subnets {
            guard let cidr = subnet.cidr else { continue }
            let name = subnet.name?.value ?? "?"
            if let outer = network.cidr, !outer.value.covers(cidr.value) {
                sink.error("subnet \(q(name)) (\(cidr.value)) is outside \(label) (\(outer.value))", at: cidr.position)
            }
            if cidr.value.prefixLength > 30 {
                sink.error(
                    "subnet \(q(name)) (\(cidr.value)) is too small: it needs room for the network address, "
                        + "gateway, broadcast and a host (/30 or larger)", at: cidr.position)
            }
            if let other = earlier.first(where: { $0.cidr.overlaps(cidr.value) }) {
                sink.error(
                    "subnet \(q(name)) (\(cidr.value)) overlaps subnet \(q(other.name)) (\(other.cidr))",
                    at: cidr.position)
            }
            earlier.append((name, cidr.value))
        }
    }

    /// Why `ip` cannot be a host address in `subnet`, if it cannot.
    static func hostProblem(_ ip: IPv4Address, in subnet: SubnetDraft) -> String? {
        guard let cidr = subnet.cidr?.value else { return nil }
        let name = q(subnet.name?.value ?? "?")
        if !cidr.contains(ip) { return "is outside subnet \(name) (\(cidr))" }
        if ip == cidr.network { return "is the network address of subnet \(name) (\(cidr))" }
        if ip == cidr.firstHost { return "is the gateway of subnet \(name) (\(cidr))" }
        if ip == cidr.lastAddress { return "is the broadcast address of subnet \(name) (\(cidr))" }
        return nil
    }

    func checkInstances() {
        let networkNames = draft.networks.compactMap(\.name?.value)
        let groupNames = draft.groups.compactMap(\.name?.value)
        let groupSet = Set(groupNames)
        var addresses: [String: [IPv4Address: (String, Position)]] = [:]
        for instance in draft.instances {
            let label = instance.name.map { "instance \(q($0.value))" } ?? "instance"
            for group in instance.groups ?? [] where !groupSet.contains(group.value) {
                unknown("security group", group, among: groupNames)
            }
            guard let networkRef = instance.network else { continue }
            guard let network = network(named: networkRef.value) else {
                unknown("network", networkRef, among: networkNames)
                continue
            }
            if network.mode == .publicIP, let key = instance.publicIPKey {
                sink.error(
                    "'public-ip' applies only to nat-private networks; in public-ip network "
                        + "\(q(networkRef.value)) an instance's ip is its public address", at: key)
            } else if let publicIP = instance.publicIP, publicIP.value.isPrivate {
                sink.error("public-ip \(publicIP.value) of \(label) is a private address", at: publicIP.position)
            }
            guard let subnetRef = instance.subnet else { continue }
            guard let subnet = network.subnets.first(where: { $0.name?.value == subnetRef.value }) else {
                unknown(
                    "subnet", subnetRef, among: network.subnets.compactMap(\.name?.value),
                    scope: " in network \(q(networkRef.value))")
                continue
            }
            guard let ip = instance.ip else { continue }
            if let problem = Self.hostProblem(ip.value, in: subnet) {
                sink.error("ip \(ip.value) of \(label) \(problem)", at: ip.position)
            } else if let first = addresses[networkRef.value]?[ip.value] {
                sink.error(
                    "ip \(ip.value) of \(label) is already used by instance \(q(first.0)) (at \(first.1))",
                    at: ip.position)
            } else {
                addresses[networkRef.value, default: [:]][ip.value] = (instance.name?.value ?? "?", ip.position)
            }
        }
    }

    /// Frames are switched by MAC on the instance side, so every station needs its own.
    func checkMACs() {
        let routerMAC = draft.routerMAC?.value ?? Topology.defaultRouterMAC
        var seen: [MACAddress: (owner: String, derivedFrom: IPv4Address?)] = [routerMAC: ("the router", nil)]
        for instance in draft.instances {
            guard let ip = instance.ip else { continue }
            let derived = instance.mac == nil
            let mac = instance.mac?.value ?? Instance.derivedMAC(for: ip.value)
            if let first = seen[mac] {
                // Two MACs derived from one address: the repeated address is the error, reported already.
                if derived, first.derivedFrom == ip.value { continue }
                sink.error(
                    "mac \(mac) of instance \(q(instance.name?.value ?? "?"))\(derived ? " (derived from its ip)" : "") "
                        + "is already used by \(first.owner)", at: instance.mac?.position ?? ip.position)
            } else {
                seen[mac] = ("instance \(q(instance.name?.value ?? "?"))", derived ? ip.value : nil)
            }
        }
    }

    func checkGroupReferences() {
        let groupNames = draft.groups.compactMap(\.name?.value)
        let groupSet = Set(groupNames)
        for group in draft.groups {
            for rule in group.ingress + (group.egress ?? []) {
                if let ref = rule.groupReference, !groupSet.contains(ref.value) {
                    unknown("security group", ref, among: groupNames)
                }
            }
        }
    }
}
