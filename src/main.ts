console.log("awms-guacamole-operator")
