using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class RiskAnomalyBaselines : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "risk_anomaly_baselines",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    provider = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    settled = table.Column<double>(type: "double precision", nullable: false),
                    succeeded = table.Column<double>(type: "double precision", nullable: false),
                    hours = table.Column<double>(type: "double precision", nullable: false),
                    folded_through = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_risk_anomaly_baselines", x => new { x.merchant_id, x.provider });
                });

            migrationBuilder.CreateIndex(
                name: "ix_payments_created_at",
                table: "payments",
                column: "created_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "risk_anomaly_baselines");

            migrationBuilder.DropIndex(
                name: "ix_payments_created_at",
                table: "payments");
        }
    }
}
