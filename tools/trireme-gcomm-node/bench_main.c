/* tools/trireme-gcomm-node/bench_main: placeholder replaced below. */
int main(void) { return 0; }
