#include "client/run.h"

int main(int argc, char** argv) {
  return sfactory::client::Run(argc, argv);
}
