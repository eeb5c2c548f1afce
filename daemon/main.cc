#include "daemon/service/main.h"

int main(int argc, char** argv) { return sfactory::service::Main(argc, argv); }
