-- Comparison 1: commit latency, a trivial UPDATE of one row and its commit (run at 1 client). 1 / this latency is
-- the most documents per second one gapless number series can issue: each issue holds the series row until commit.
UPDATE bench_bare.tick SET n = n + 1 WHERE id = 1;
