%% Erlang twins of `shoal bench` workloads, written for Shoal's side-by-side comparison.
%%
%% Run: erl +S N:N +P 4000000 -noshell -pa DIR -s shoal_beam main WORKLOAD [ARGS...] -s init stop
%% (+P: skynet at depth 6 has over a million processes alive, past the default limit.)
%% Each run prints exactly one line of JSON on stdout, with the keys of the matching
%% `shoal bench WORKLOAD --json` figure, plus workload, schedulers, procs, otp_release.
-module(shoal_beam).
-export([main/1]).

main([Workload | Args]) ->
    Ints = [list_to_integer(atom_to_list(A)) || A <- Args],
    {Procs, Figures} = run(atom_to_list(Workload), Ints),
    Common = [{workload, atom_to_list(Workload)},
              {schedulers, erlang:system_info(schedulers_online)},
              {procs, Procs},
              {otp_release, erlang:system_info(otp_release)}],
    io:format("~s~n", [json(Common ++ Figures)]).

%% --- fair: N spinners; CPU share by reductions over S seconds after a W-second warm-up.
run("fair", Args) ->
    [N, S, W] = defaults(Args, [1000, 3, 1]),
    %% The measurer runs above the spinners, as Shoal's host thread runs outside its
    %% workers: each snapshot is taken in one go and the window is S seconds.
    process_flag(priority, high),
    Pids = [spawn(fun spin/0) || _ <- lists:seq(1, N)],
    timer:sleep(W * 1000),
    R0 = [reductions(P) || P <- Pids],
    timer:sleep(S * 1000),
    R1 = [reductions(P) || P <- Pids],
    [exit(P, kill) || P <- Pids],
    Deltas = [B - A || {A, B} <- lists:zip(R0, R1)],
    Mean = lists:sum(Deltas) / N,
    Shares = [D / Mean || D <- Deltas],
    {N, [{jain_reductions, jain(Deltas)},
         {min_share, lists:min(Shares)},
         {max_share, lists:max(Shares)}]};

%% --- wake: amid N spinners, sleep 1 ms S*1000 times; lateness past 1 ms in µs.
run("wake", Args) ->
    [N, S] = defaults(Args, [1000, 3]),
    Pids = [spawn(fun spin/0) || _ <- lists:seq(1, N)],
    timer:sleep(500),
    Self = self(),
    spawn(fun() -> Self ! {late, sleeper(S * 1000, [])} end),
    Late = receive {late, L} -> lists:sort(L) end,
    [exit(P, kill) || P <- Pids],
    {N, [{p50_us, pct(Late, 0.50)}, {p99_us, pct(Late, 0.99)},
         {max_us, lists:last(Late)}, {samples, length(Late)}]};

%% --- spawn: N processes that exit at once; each tells the parent as it ends (one
%% message: cheaper than a monitor, which costs a monitor set-up and a 'DOWN' message).
%% Like Shoal's: an untimed warm-up round, then the median of 3 timed rounds of N.
run("spawn", Args) ->
    [N] = defaults(Args, [100000]),
    spawn_round(N),
    Rates = lists:sort([spawn_round(N) || _ <- lists:seq(1, 3)]),
    {N, [{spawns_per_s, lists:nth(2, Rates)}, {rounds, 3}]};

%% --- idle: N processes blocked in receive. As in Shoal's, 100 processes are spawned and
%% ended first so that first-use costs are not charged to the measured ones.
run("idle", Args) ->
    [N] = defaults(Args, [10000]),
    Warm = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 100)],
    [P ! stop || P <- Warm],
    timer:sleep(100),
    erlang:garbage_collect(),
    {Rss0, Mem0} = {rss(), erlang:memory(total)},
    Pids = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, N)],
    timer:sleep(200),
    {Rss1, Mem1} = {rss(), erlang:memory(total)},
    %% Alive and blocked in receive, as Shoal's procs_alive counts them.
    Alive = length([P || P <- Pids, process_info(P, status) =:= {status, waiting}]),
    [P ! stop || P <- Pids],
    {N, [{rss_bytes_per_proc, (Rss1 - Rss0) / N}, {procs_alive, Alive},
         {erlang_memory_bytes_per_proc, (Mem1 - Mem0) / N}]};

%% --- ring: N processes pass a token M times round.
run("ring", Args) ->
    [N, M] = defaults(Args, [1000, 100]),
    Hops = N * M,
    Self = self(),
    Nodes = [spawn(fun() -> receive {next, Next} -> ring_node(Next, Self) end end)
             || _ <- lists:seq(1, N)],
    [P ! {next, Next} || {P, Next} <- lists:zip(Nodes, tl(Nodes) ++ [hd(Nodes)])],
    Ring = hd(Nodes),
    T0 = erlang:monotonic_time(),
    Ring ! {token, Hops - 1},
    receive ring_done -> ok end,
    {N, [{msgs_per_s, Hops / secs_since(T0)}]};

%% --- pingpong: K round trips between two processes.
run("pingpong", Args) ->
    [K] = defaults(Args, [100000]),
    Pong = spawn(fun pong/0),
    T0 = erlang:monotonic_time(),
    ping(Pong, K),
    Elapsed = secs_since(T0),
    Pong ! stop,
    {2, [{roundtrip_ns, Elapsed * 1.0e9 / K}]};

%% --- skynet: 10-ary tree of 10^D leaves, summing back up.
run("skynet", Args) ->
    [D] = defaults(Args, [6]),
    Size = pow10(D),
    Self = self(),
    T0 = erlang:monotonic_time(),
    spawn(fun() -> skynet(Self, 0, Size) end),
    Sum = receive {sum, X} -> X end,
    {(10 * Size - 1) div 9, [{elapsed_s, secs_since(T0)}, {sum, Sum}]}.

%% --- helpers

defaults(Args, Defaults) -> Args ++ lists:nthtail(length(Args), Defaults).

spin() -> spin(0).
spin(X) -> spin(X + 1).

reductions(P) -> {reductions, R} = process_info(P, reductions), R.

jain(Xs) ->
    Sum = lists:sum(Xs),
    Sq = lists:sum([X * X || X <- Xs]),
    case Sq of 0 -> 1.0; _ -> Sum * Sum / (length(Xs) * Sq) end.

sleeper(0, Acc) -> Acc;
sleeper(K, Acc) ->
    T = erlang:monotonic_time(microsecond),
    receive after 1 -> ok end,
    Late = erlang:monotonic_time(microsecond) - T - 1000,
    sleeper(K - 1, [max(Late, 0) | Acc]).

pct(Sorted, Q) -> lists:nth(max(1, min(length(Sorted), ceil(Q * length(Sorted)))), Sorted).

%% One timed round of `spawn`: spawns per second.
spawn_round(N) ->
    Self = self(),
    T0 = erlang:monotonic_time(),
    spawn_n(Self, N),
    collect(N),
    N / secs_since(T0).

spawn_n(_, 0) -> ok;
spawn_n(Parent, K) -> spawn(fun() -> Parent ! done end), spawn_n(Parent, K - 1).

collect(0) -> ok;
collect(N) -> receive done -> collect(N - 1) end.

secs_since(T0) ->
    erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond) / 1.0e9.

rss() ->
    {ok, Status} = file:read_file("/proc/" ++ os:getpid() ++ "/status"),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
                   binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb) * 1024.

ring_node(Next, Boss) ->
    receive
        {next, NewNext} -> ring_node(NewNext, Boss);
        {token, 0} -> Boss ! ring_done, Next ! stop;
        {token, H} -> Next ! {token, H - 1}, ring_node(Next, Boss);
        stop -> Next ! stop
    end.

ping(_, 0) -> ok;
ping(Pong, K) -> Pong ! {self(), K}, receive {pong, K} -> ping(Pong, K - 1) end.

pong() -> receive {From, K} -> From ! {pong, K}, pong(); stop -> ok end.

skynet(Parent, Num, 1) -> Parent ! {sum, Num};
skynet(Parent, Num, Size) ->
    Self = self(),
    Step = Size div 10,
    [spawn(fun() -> skynet(Self, Num + I * Step, Step) end) || I <- lists:seq(0, 9)],
    Parent ! {sum, skynet_sum(10, 0)}.

skynet_sum(0, Acc) -> Acc;
skynet_sum(K, Acc) -> receive {sum, X} -> skynet_sum(K - 1, Acc + X) end.

pow10(0) -> 1;
pow10(D) -> 10 * pow10(D - 1).

json(Pairs) ->
    "{" ++ lists:join(",", [io_lib:format("\"~s\":~s", [K, value(V)]) || {K, V} <- Pairs]) ++ "}".

value(V) when is_integer(V) -> integer_to_list(V);
value(V) when is_float(V) -> io_lib:format("~.6f", [V]);
value(V) when is_list(V) -> io_lib:format("\"~s\"", [V]).
