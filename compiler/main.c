#include <stdio.h>
int main(void) { fputs("gretac: not built yet\n", stderr); return 2; }
