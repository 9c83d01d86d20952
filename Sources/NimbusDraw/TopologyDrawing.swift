import NimbusTopology
import NimbusWire

extension Topology {
    /// The topology as a Graphviz graph in the DOT language, as `nimbus draw` renders it.
    ///
    /// The internet is on top, in a row with its declared hosts and the tunnels' peers; public load
    /// balancers sit under it; each network is a box holding its NAT gateway, its VPN tunnels and its
    /// subnets, each subnet a box holding its instances and the load balancers whose VIP it answers
    /// for. Edges join what the internet reaches (NAT gateways, elastic IPs, public-ip networks, public
    /// VIPs), load balancers to their targets and tunnels to their peers. The text depends only on the
    /// topology: elements appear in file order.
    public func dot() -> String {
        var drawing = TopologyDrawing(self)
        return drawing.render()
    }
}

/// Draws one topology: one method per kind of element, nodes first, then the edges between them.
///
/// A new kind of element (peerings, transit gateways, route tables) gets its own node method, called
/// where the element lives (top level or inside its network), its own edge method, and node IDs in
/// `NodeID`.
struct TopologyDrawing {
    let topology: Topology
    private var out = DOTWriter()
    /// The "no instances" / "no subnets" stand-ins drawn so far, kept for `layoutEdges()`.
    private var placeholders: [String] = []

    init(_ topology: Topology) {
        self.topology = topology
    }

    mutating func render() -> String {
        out.open("digraph", topology.name)
        graphAttributes()
        internet()
        for network in topology.networks { self.network(network) }
        for lb in topology.loadBalancers where home(of: lb) == nil { loadBalancer(lb) }
        // Edges last, at the top level: an edge written inside a cluster would pull a node it names
        // into that cluster when the node was not declared yet.
        internetHostEdges()
        natGatewayEdges()
        publicNetworkEdges()
        elasticIPEdges()
        loadBalancerEdges()
        vpnEdges()
        layoutEdges()
        out.close()
        return out.text
    }

    // MARK: Graph

    static let font = "Helvetica"

    private mutating func graphAttributes() {
        // Top down, as clouds are drawn: the internet, what faces it (NAT gateways, public VIPs),
        // then the networks.
        out.set([
            .string("rankdir", "TB"), .string("compound", "true"), .string("newrank", "true"),
            .string("fontname", Self.font), .string("fontsize", "12"), .string("labelloc", "t"),
            .string("nodesep", "0.3"), .string("ranksep", "0.6"), .string("pad", "0.2"),
            // Opaque: a transparent PNG is unreadable on a dark page.
            .string("bgcolor", "white"),
            .label(Label(title: topology.name)),
        ])
        out.defaults("node", [
            .string("fontname", Self.font), .string("fontsize", "11"), .string("shape", "box"),
            .string("style", "rounded,filled"), .string("fillcolor", "white"), .string("color", "#5b6b7f"),
            .string("margin", "0.12,0.06"),
        ])
        out.defaults("edge", [
            .string("fontname", Self.font), .string("fontsize", "9"), .string("color", "#5b6b7f"),
            .string("arrowsize", "0.7"),
        ])
    }

    // MARK: Nodes

    private mutating func internet() {
        // One row: the internet, the hosts on it and the tunnels' peers, which are reached over it.
        out.open("subgraph", NodeID.row("internet"))
        out.set([.string("rank", "same")])
        out.node(NodeID.internet, [
            .string("shape", "ellipse"), .string("fillcolor", "#dbe9f6"), .label(Label(title: "internet")),
        ])
        for host in topology.internet.hosts { internetHost(host) }
        for tunnel in topology.vpnTunnels { vpnPeers(of: tunnel) }
        out.close()
    }

    private mutating func internetHost(_ host: InternetHost) {
        out.node(NodeID.host(host.name), [
            .string("fillcolor", "#f3f3f3"), .string("color", "#9a9a9a"),
            .label(Label(title: host.name, lines: ["internet host, \(host.ip)"])),
        ])
    }

    private mutating func network(_ network: Network) {
        out.comment("network \(network.name)")
        out.open("subgraph", NodeID.networkCluster(network.name))
        out.set([
            .string("style", "rounded,filled"), .string("fillcolor", "#eaf2fb"), .string("color", "#4a7ab5"),
            // Box labels at the bottom: every edge runs downwards into the box it ends in, so none
            // crosses a label there.
            .string("labeljust", "l"), .string("labelloc", "b"),
            .label(Label(title: network.name, inline: "\(network.cidr), \(network.mode.rawValue)")),
        ])
        var drawn = 0
        if let nat = network.nat {
            natGateway(nat, of: network)
            drawn += 1
        }
        for tunnel in topology.vpnTunnels where tunnel.network == network.name {
            vpnTunnel(tunnel)
            drawn += 1
        }
        for lb in topology.loadBalancers {
            if let home = home(of: lb), home.network == network.name, home.subnet == nil {
                loadBalancer(lb)
                drawn += 1
            }
        }
        for subnet in network.subnets { self.subnet(subnet, of: network) }
        // Graphviz leaves out a cluster with no node; an empty network should still show.
        if drawn == 0 && network.subnets.isEmpty { placeholder(NodeID.anchor(network.name), "no subnets") }
        out.close()
    }

    private mutating func subnet(_ subnet: Subnet, of network: Network) {
        out.open("subgraph", NodeID.subnetCluster(network.name, subnet.name))
        var detail = "\(subnet.cidr)"
        if let acl = subnet.networkACL { detail += ", network-acl \(acl)" }
        out.set([
            .string("style", "rounded,filled"), .string("fillcolor", "#fbfdff"), .string("color", "#8fb0d8"),
            .string("labeljust", "l"), .string("labelloc", "b"), .label(Label(title: subnet.name, inline: detail)),
        ])
        var drawn = 0
        for lb in topology.loadBalancers {
            if let home = home(of: lb), home.network == network.name, home.subnet == subnet.name {
                loadBalancer(lb)
                drawn += 1
            }
        }
        let instances = topology.instances.filter { $0.network == network.name && $0.subnet == subnet.name }
        if !instances.isEmpty {
            // A subnet's instances in one row, under the load balancers in front of them.
            out.open("subgraph", NodeID.row("\(network.name)/\(subnet.name)"))
            out.set([.string("rank", "same")])
            for instance in instances { self.instance(instance) }
            out.close()
            drawn += instances.count
        }
        if drawn == 0 { placeholder(NodeID.anchor("\(network.name)/\(subnet.name)"), "no instances") }
        out.close()
    }

    private mutating func instance(_ instance: Instance) {
        var lines = ["\(instance.ip)"]
        if let publicIP = instance.publicIP { lines.append("elastic IP \(publicIP)") }
        switch instance.securityGroups {
        case nil: lines.append("default group")
        case let groups? where groups.isEmpty: lines.append("no groups")
        case let groups?: lines.append((groups.count == 1 ? "group " : "groups ") + groups.joined(separator: ", "))
        }
        out.node(NodeID.instance(instance.name), [.label(Label(title: instance.name, lines: lines))])
    }

    private mutating func natGateway(_ nat: NATGateway, of network: Network) {
        var lines = [nat.publicIPs.map(\.description).joined(separator: ", ")]
        lines.append("ports \(nat.ports.lowerBound)-\(nat.ports.upperBound)")
        if nat.filtering != .addressAndPortDependent { lines.append(nat.filtering.rawValue) }
        out.node(NodeID.nat(network.name), [
            .string("fillcolor", "#fde7d4"), .string("color", "#b9783f"),
            .label(Label(title: "NAT gateway", lines: lines)),
        ])
    }

    private mutating func loadBalancer(_ lb: LoadBalancer) {
        var lines = ["load balancer, VIP \(lb.vip)"]
        for listener in lb.listeners {
            var line = "\(listener.protocol.rawValue) \(listener.port) → \(listener.targetPort), \(listener.algorithm.rawValue)"
            if listener.hashPort { line += " (hash-port)" }
            lines.append(line)
        }
        out.node(NodeID.loadBalancer(lb.name), [
            .string("fillcolor", "#e3f1da"), .string("color", "#5e8f45"),
            .label(Label(title: lb.name, lines: lines)),
        ])
    }

    private mutating func vpnTunnel(_ tunnel: VPNTunnel) {
        out.node(NodeID.tunnel(tunnel.name), [
            .string("fillcolor", "#ece3f6"), .string("color", "#7a5aa6"),
            .label(Label(title: tunnel.name, lines: ["WireGuard tunnel", "listen \(tunnel.listen)", "mtu \(tunnel.mtu)"])),
        ])
    }

    private mutating func vpnPeers(of tunnel: VPNTunnel) {
        for (index, peer) in tunnel.peers.enumerated() {
            var lines = ["allowed-ips " + peer.allowedIPs.map(\.description).joined(separator: ", ")]
            if let keepalive = peer.persistentKeepalive { lines.append("keepalive \(keepalive)s") }
            let title = peer.endpoint.map { "peer \($0)" } ?? "peer (connects in)"
            out.node(NodeID.peer(tunnel.name, index), [
                .string("fillcolor", "#f6f1fb"), .string("color", "#7a5aa6"),
                .label(Label(title: title, lines: lines)),
            ])
        }
    }

    private mutating func placeholder(_ id: String, _ text: String) {
        placeholders.append(id)
        out.node(id, [
            .string("shape", "plaintext"), .string("style", ""), .string("fontcolor", "#7f7f7f"),
            .string("label", text),
        ])
    }

    // MARK: Edges

    private mutating func internetHostEdges() {
        for host in topology.internet.hosts {
            out.edge(NodeID.host(host.name), NodeID.internet, [.string("dir", "none")])
        }
    }

    private mutating func natGatewayEdges() {
        for network in topology.networks where network.nat != nil {
            // Written internet first so the layout ranks the internet before the gateway; the arrow
            // points out, the only way a NAT gateway opens flows.
            out.edge(NodeID.internet, NodeID.nat(network.name), [.string("dir", "back")])
        }
    }

    private mutating func publicNetworkEdges() {
        for network in topology.networks where network.mode == .publicIP {
            // To the network's box: every instance address in it is routed from the internet as it is.
            out.edge(NodeID.internet, anchor(of: network), [
                .string("lhead", NodeID.networkCluster(network.name)), .string("dir", "both"),
            ])
        }
    }

    private mutating func elasticIPEdges() {
        for instance in topology.instances where instance.publicIP != nil {
            out.edge(NodeID.internet, NodeID.instance(instance.name), [.string("dir", "both")])
        }
    }

    private mutating func loadBalancerEdges() {
        for lb in topology.loadBalancers {
            if !lb.vip.isPrivate {
                // Heavy, so the layout keeps a public load balancer in the row under the internet rather
                // than pulling it down towards its targets.
                out.edge(NodeID.internet, NodeID.loadBalancer(lb.name), [.string("weight", "8")])
            }
            for (instance, weights) in targets(of: lb) {
                // From outside the networks, a row apart at least: room for the edges to fan out and
                // for their labels.
                var attributes: [Attribute] = home(of: lb) == nil ? [.string("minlen", "2")] : []
                if let text = weightLabel(weights, listenerCount: lb.listeners.count) {
                    attributes.append(.string("label", text))
                }
                out.edge(NodeID.loadBalancer(lb.name), NodeID.instance(instance), attributes)
            }
        }
    }

    private mutating func vpnEdges() {
        for tunnel in topology.vpnTunnels {
            for index in tunnel.peers.indices {
                out.edge(NodeID.peer(tunnel.name, index), NodeID.tunnel(tunnel.name), [
                    .string("dir", "both"), .string("style", "dashed"), .string("color", "#7a5aa6"),
                ])
            }
        }
    }

    /// Invisible edges that keep what lives inside the networks at least two rows below the
    /// internet: the row between is for what faces it (NAT gateways, public load balancers), and an
    /// instance no edge reaches would otherwise float up to the internet's row.
    private mutating func layoutEdges() {
        var inside = topology.instances.map { NodeID.instance($0.name) }
        inside += topology.vpnTunnels.map { NodeID.tunnel($0.name) }
        inside += topology.loadBalancers.filter { home(of: $0) != nil }.map { NodeID.loadBalancer($0.name) }
        inside += placeholders
        for id in inside {
            out.edge(NodeID.internet, id, [.string("style", "invis"), .string("minlen", "2"), .string("weight", "0")])
        }
    }

    // MARK: Helpers

    /// Where a load balancer is drawn: the subnet that answers for its VIP (an internal load
    /// balancer), the network whose range holds it, or nowhere inside (`nil`, a public VIP).
    private func home(of lb: LoadBalancer) -> (network: String, subnet: String?)? {
        guard let network = topology.networks.first(where: { $0.cidr.contains(lb.vip) }) else { return nil }
        return (network.name, network.subnets.first { $0.cidr.contains(lb.vip) }?.name)
    }

    /// A node inside the network's box, for edges that end at the box (`lhead`): its first instance,
    /// or what `network(_:)` drew first.
    private func anchor(of network: Network) -> String {
        if let instance = topology.instances.first(where: { $0.network == network.name }) {
            return NodeID.instance(instance.name)
        }
        if network.nat != nil { return NodeID.nat(network.name) }
        if let tunnel = topology.vpnTunnels.first(where: { $0.network == network.name }) {
            return NodeID.tunnel(tunnel.name)
        }
        if let lb = topology.loadBalancers.first(where: { home(of: $0)?.network == network.name }) {
            return NodeID.loadBalancer(lb.name)
        }
        if let subnet = network.subnets.first { return NodeID.anchor("\(network.name)/\(subnet.name)") }
        return NodeID.anchor(network.name)
    }

    /// The load balancer's targets, each once in first-listed order, with its weight in each
    /// listener that has it.
    private func targets(of lb: LoadBalancer) -> [(instance: String, weights: [(listener: Listener, weight: Int)])] {
        var result: [(instance: String, weights: [(listener: Listener, weight: Int)])] = []
        for listener in lb.listeners {
            for target in listener.targets {
                if let i = result.firstIndex(where: { $0.instance == target.instance }) {
                    result[i].weights.append((listener, target.weight))
                } else {
                    result.append((target.instance, [(listener, target.weight)]))
                }
            }
        }
        return result
    }

    /// The edge label for a target's weights: none when every weight is 1, else each weight that is
    /// not, named by listener when the load balancer has several.
    private func weightLabel(_ weights: [(listener: Listener, weight: Int)], listenerCount: Int) -> String? {
        let heavy = weights.filter { $0.weight != 1 }
        if heavy.isEmpty { return nil }
        if listenerCount == 1 { return "weight \(heavy[0].weight)" }
        return heavy.map { "\($0.listener.protocol.rawValue) \($0.listener.port): weight \($0.weight)" }
            .joined(separator: "\n")
    }
}

/// Node and cluster IDs. Topology names never hold `/` (letters, digits, `.`, `_`, `-`), so a kind
/// prefix and `/` keep every ID unique; cluster IDs start with `cluster`, which is what makes Graphviz
/// draw a subgraph as a box.
enum NodeID {
    static let internet = "internet"
    static func host(_ name: String) -> String { "host/\(name)" }
    static func networkCluster(_ network: String) -> String { "cluster_network/\(network)" }
    static func subnetCluster(_ network: String, _ subnet: String) -> String { "cluster_subnet/\(network)/\(subnet)" }
    static func anchor(_ path: String) -> String { "empty/\(path)" }
    /// A subgraph that only keeps its nodes in one row (`rank=same`).
    static func row(_ path: String) -> String { "row/\(path)" }
    static func instance(_ name: String) -> String { "instance/\(name)" }
    static func nat(_ network: String) -> String { "nat/\(network)" }
    static func loadBalancer(_ name: String) -> String { "lb/\(name)" }
    static func tunnel(_ name: String) -> String { "vpn/\(name)" }
    static func peer(_ tunnel: String, _ index: Int) -> String { "vpn/\(tunnel)/peer/\(index)" }
}
