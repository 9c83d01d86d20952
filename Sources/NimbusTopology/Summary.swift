import NimbusWire

extension Topology {
    /// Long lists are cut here so the summary stays on one screen.
    static let summaryListLimit = 20

    /// A one-screen, human-readable overview, as `nimbus check` prints it.
    public func summary() -> String {
        var lines: [String] = []
        lines.append("topology \(name) (\(file))")
        lines.append(
            "  router-mac \(routerMAC), upstream-mac \(internet.upstreamMAC), "
                + "conntrack \(conntrack.tcpPickup.rawValue) (max \(conntrack.maxFlows) flows)")
        if !internet.hosts.isEmpty {
            lines.append("  internet hosts: " + internet.hosts.map { "\($0.name) \($0.ip)" }.joined(separator: ", "))
        }
        lines.append("networks (\(networks.count)):")
        for network in networks {
            lines.append("  \(network.name) \(network.cidr) \(network.mode.rawValue)")
            appendLimited(network.subnets, limit: 8, indent: "    ", to: &lines) { subnet in
                "    subnet \(subnet.name) \(subnet.cidr) gateway \(subnet.gateway)"
                    + (subnet.networkACL.map { " network-acl \($0)" } ?? "")
            }
            if let nat = network.nat {
                lines.append(
                    "    nat \(nat.publicIPs.map(\.description).joined(separator: ", ")) "
                        + "ports \(nat.ports.lowerBound)-\(nat.ports.upperBound) \(nat.filtering.rawValue)")
            }
        }
        lines.append("instances (\(instances.count)):")
        appendLimited(instances, to: &lines) { instance in
            var line = "  \(instance.name) \(instance.network)/\(instance.subnet) \(instance.ip)"
            if let publicIP = instance.publicIP { line += " public \(publicIP)" }
            line += " groups " + (instance.securityGroups.map { $0.isEmpty ? "(none)" : $0.joined(separator: ",") }
                ?? "(default)")
            return line
        }
        if !securityGroups.isEmpty {
            lines.append("security groups (\(securityGroups.count)):")
            appendLimited(securityGroups, to: &lines) { group in
                let egress = group.egress.map { "\($0.count) egress" } ?? "all egress"
                return "  \(group.name): \(group.ingress.count) ingress, \(egress)"
            }
        }
        if !networkACLs.isEmpty {
            lines.append("network ACLs (\(networkACLs.count)):")
            appendLimited(networkACLs, to: &lines) { acl in
                "  \(acl.name): \(acl.inbound.count) inbound, \(acl.outbound.count) outbound"
            }
        }
        if !loadBalancers.isEmpty {
            lines.append("load balancers (\(loadBalancers.count)):")
            for lb in loadBalancers {
                for listener in lb.listeners {
                    var targets = listener.targets.prefix(8)
                        .map { $0.weight == 1 ? $0.instance : "\($0.instance)*\($0.weight)" }
                    if listener.targets.count > 8 { targets.append("+\(listener.targets.count - 8) more") }
                    lines.append(
                        "  \(lb.name) \(lb.vip):\(listener.port)/\(listener.protocol.rawValue) -> "
                            + "\(targets.joined(separator: ", ")) port \(listener.targetPort) "
                            + listener.algorithm.rawValue + (listener.hashPort ? " (hash-port)" : ""))
                }
            }
        }
        if !vpnTunnels.isEmpty {
            lines.append("vpn tunnels (\(vpnTunnels.count)):")
            for tunnel in vpnTunnels {
                let routes = tunnel.peers.flatMap(\.allowedIPs).prefix(8).map(\.description).joined(separator: ", ")
                let peers = tunnel.peers.count == 1 ? "1 peer" : "\(tunnel.peers.count) peers"
                lines.append("  \(tunnel.name) on \(tunnel.network) listen \(tunnel.listen), \(peers): \(routes)")
            }
        }
        if !events.isEmpty {
            lines.append("events (\(events.count)):")
            appendLimited(events, to: &lines) { event in
                switch event.action {
                case .setTarget(let lb, let instance, let state):
                    "  at \(formatDuration(event.at)): \(lb) target \(instance) \(state.rawValue)"
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    private func appendLimited<T>(
        _ items: [T], limit: Int = Topology.summaryListLimit, indent: String = "  ", to lines: inout [String],
        _ line: (T) -> String
    ) {
        for item in items.prefix(limit) { lines.append(line(item)) }
        if items.count > limit { lines.append("\(indent)... and \(items.count - limit) more") }
    }
}
